import Foundation
import Hummingbird
import TesseraCore
import TesseraServices
import XMLCoder

/// Renders v1 bodies as JSON or XML, the two forms every v1 call speaks.
enum V1Rendering {
    static let xmlContentType = "application/xml;charset=UTF-8"
    static let jsonContentType = "application/json;charset=UTF-8"
    /// Set in the JSON encoder's user info, so a body can tell JSON (explicit nulls) from XML.
    static let isJSON = CodingUserInfoKey(rawValue: "tessera.isJSON")!

    /// One encoder for every JSON body (configured once, never changed: safe to share).
    static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.userInfo[isJSON] = true
        return encoder
    }()

    /// `value` as v1's JSON.
    static func json(_ value: some Encodable) -> Data {
        (try? jsonEncoder.encode(value)) ?? Data("{}".utf8)
    }

    /// A 200 whose JSON body was encoded before.
    static func json(encoded: Data) -> Response {
        Response(status: .ok, headers: [.contentType: jsonContentType], body: .init(byteBuffer: ByteBuffer(bytes: encoded)))
    }

    static func response(_ value: some Encodable, root: String, rootAttributes: [String: String]? = nil,
                         format: ResponseFormat, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        let data: Data
        switch format {
        case .json:
            data = json(value)
            headers[.contentType] = jsonContentType
        case .xml:
            let encoder = XMLEncoder()
            data = (try? encoder.encode(value, withRootKey: root, rootAttributes: rootAttributes,
                                        header: XMLHeader(version: 1.0, encoding: "UTF-8", standalone: "yes"))) ?? Data()
            headers[.contentType] = xmlContentType
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ error: TesseraError, endpoint: V1Endpoint = .standard, format: ResponseFormat, helpURL: String, trace: String) -> Response {
        var headers: HTTPFields = [:]
        headers[.init("X-Request-Id")!] = trace
        let entry = V1Errors.entry(error, endpoint)
        return response(ErrorBody(entry: entry, helpURL: helpURL, trace: trace), root: "error", format: format,
                        status: HTTPResponse.Status(code: entry.status), headers: headers)
    }

    /// The v1 error with Adobe's enhanced fields. `details` is written as `null` in JSON
    /// when absent (as the v1 samples show) and left out of XML.
    struct ErrorBody: Encodable {
        let action: String
        let status: Int
        var code: String
        let message: String
        let details: String?
        let helpUrl: String
        let trace: String

        init(entry: V1Errors.Entry, helpURL: String, trace: String) {
            action = entry.action
            status = entry.status
            code = entry.code
            message = entry.message
            details = entry.details
            helpUrl = helpURL
            self.trace = trace
        }

        enum CodingKeys: String, CodingKey { case action, status, code, message, details, helpUrl, trace }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(action, forKey: .action)
            try c.encode(status, forKey: .status)
            try c.encode(code, forKey: .code)
            try c.encode(message, forKey: .message)
            if let details { try c.encode(details, forKey: .details) } else if encoder.userInfo[V1Rendering.isJSON] as? Bool == true {
                try c.encodeNil(forKey: .details)
            }
            try c.encode(helpUrl, forKey: .helpUrl)
            try c.encode(trace, forKey: .trace)
        }
    }
}
