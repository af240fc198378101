import Foundation
import Hummingbird
import TesseraCore

/// JSON request bodies of the Huawei dialects: read up to a limit, decoded, and any failure a
/// ``TesseraError`` for the dialect's catalogue.
enum JSONBody {
    static let decoder = JSONDecoder()

    /// The body as a JSON object; an empty body is an empty object.
    static func object(_ request: Request, limit: Int) async throws(TesseraError) -> [String: JSONValue] {
        try await decode(request, as: [String: JSONValue].self, limit: limit) ?? [:]
    }

    /// The body as a JSON object of `type`; nil for an empty body.
    static func decode<Body: Decodable>(_ request: Request, as type: Body.Type, limit: Int) async throws(TesseraError) -> Body? {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch { throw .payloadTooLarge(limit: limit) }
        guard buffer.readableBytes > 0 else { return nil }
        guard let object = try? decoder.decode(Body.self, from: Data(buffer: buffer)) else {
            throw .malformedRequest("the body is not a JSON object of the expected fields")
        }
        return object
    }
}

/// A JSON value as sent: Huawei bodies are read leniently (a number may come quoted), but a
/// boolean is never taken for a number or the other way round.
enum JSONValue: Decodable {
    case null, bool(Bool), number(Double), string(String), other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else { self = .other }
    }

    var text: String? { if case .string(let text) = self { text } else { nil } }
}
