public enum TokenMeterVersion { public static let string = "0.1.0" }
