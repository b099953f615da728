import Foundation
import Hummingbird

/// An error answered as `{"error": "…"}` (CONTRACT section 3).
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public static func overloaded(_ message: String, retryAfterSeconds: Int = 1) -> APIError {
        APIError(.serviceUnavailable, message, headers: [.retryAfter: String(retryAfterSeconds)])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: status, ["error": message], headers: headers)
    }
}

enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func make(status: HTTPResponse.Status = .ok, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"response could not be encoded"}"#.utf8)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into the JSON error shape, including Hummingbird's own (404, 413, …).
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let message = error.body ?? Self.defaultMessage(error.status)
            throw APIError(error.status, message, headers: error.headers)
        } catch let error as any HTTPResponseError {
            throw APIError(error.status, Self.defaultMessage(error.status))
        } catch {
            context.logger.error("unhandled error: \(error)")
            throw APIError(.internalServerError, "internal error: \(error)")
        }
    }

    static func defaultMessage(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "no such route"
        case .contentTooLarge: "request body larger than the limit"
        case .methodNotAllowed: "method not allowed on this route"
        default: status.reasonPhrase
        }
    }
}
