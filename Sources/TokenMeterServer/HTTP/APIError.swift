import TokenMeterCore
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

    /// A write the store refused: 503 with Retry-After when the fault may pass, 500 without it when
    /// only an operator can clear it (retrying is then pointless).
    public static func store(_ fault: StoreFault, _ what: String) -> APIError {
        switch fault {
        case .transient(let reason):
            overloaded("\(what) could not be committed (\(reason)); nothing from this request was stored, retry later", retryAfterSeconds: 5)
        case .permanent(let reason):
            APIError(.internalServerError, "\(what) could not be committed (\(reason)); nothing from this request was stored. This store fault is permanent: retrying will not help until an operator repairs the store")
        }
    }

    /// A read the store could not answer now (out of file descriptors, busy) or at all (malformed).
    public static func storeRead(_ fault: StoreFault) -> APIError {
        fault.isPermanent
            ? APIError(.internalServerError, "the store could not be read (\(fault)); an operator must repair the store")
            : overloaded("the store could not be read now (\(fault)); retry later", retryAfterSeconds: 5)
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
        } catch let error as any ClientError {
            throw APIError(.badRequest, error.description)
        } catch let error as HTTPError {
            let message = error.body ?? Self.defaultMessage(error.status)
            throw APIError(error.status, message, headers: error.headers)
        } catch let error as any HTTPResponseError {
            throw APIError(error.status, Self.defaultMessage(error.status))
        } catch let error as StoreFault {
            context.logger.error("store error on \(request.uri.path): \(error)")
            throw APIError.storeRead(error)
        } catch {
            // The error's text may hold SQL or paths: it goes to the log, not to the client.
            context.logger.error("unhandled error on \(request.uri.path): \(error)")
            throw APIError(.internalServerError, "internal error (the server logged the details)")
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
