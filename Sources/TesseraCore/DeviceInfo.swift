import Foundation

/// The client information a device sends (`device_info` / `X-Device-Info`): base64 of a JSON
/// object describing hardware, OS, browser, connection and application.
public struct DeviceInfo: Sendable, Equatable {
    public static let maximumEncodedLength = 8192
    /// The decoded JSON text, as sent.
    public let json: String
    public let fields: [String: String]

    static let mandatoryKeys = ["model", "osName"]
    static let closedSets: [String: Set<String>] = [
        "primaryHardwareType": ["Camera", "DataCollectionTerminal", "Desktop", "EmbeddedNetworkModule", "eReader",
                                "GamesConsole", "GeolocationTracker", "Glasses", "MediaPlayer", "MobilePhone",
                                "PaymentTerminal", "PluginModem", "SetTopBox", "TV", "Tablet", "WirelessHotspot",
                                "Wristwatch", "Unknown", "VehicleMultimediaSystem", "Projector"],
        "osName": ["Android", "Chrome OS", "Linux", "Mac OS", "OS X", "OpenBSD", "Roku OS", "Windows", "iOS", "tvOS", "webOS"],
        "osFamily": ["Android", "BSD", "Linux", "PlayStation OS", "Roku OS", "Symbian", "Tizen", "Windows", "iOS", "macOS", "tvOS", "webOS"],
        "connectionSecure": ["true", "false"],
    ]

    /// Decodes and validates; throws ``TesseraError/invalidDeviceInfo(_:)`` saying what is wrong.
    public init(encoded: String) throws(TesseraError) {
        guard encoded.count <= Self.maximumEncodedLength else { throw .invalidDeviceInfo("device information is too long") }
        guard let data = Data(lenientBase64: encoded) else { throw .invalidDeviceInfo("device information is not base64") }
        guard let object = (try? JSONDecoder().decode([String: Scalar].self, from: data))
                ?? Self.withMissingCommas(data).flatMap({ try? JSONDecoder().decode([String: Scalar].self, from: $0) })
        else {
            throw .invalidDeviceInfo("device information is not a JSON object of strings, numbers and booleans")
        }
        let fields = object.mapValues(\.text)
        for key in Self.mandatoryKeys where (fields[key] ?? "").isEmpty {
            throw .invalidDeviceInfo("device information lacks \(key)")
        }
        for (key, allowed) in Self.closedSets {
            if let value = fields[key], !allowed.contains(value) {
                throw .invalidDeviceInfo("device information has an unknown \(key)")
            }
        }
        self.json = String(decoding: data, as: UTF8.self)
        self.fields = fields
    }

    /// The object with a comma put back between two members on separate lines that lack one.
    /// Adobe's REST v2 samples send exactly that (`"osName": "tvOS"` then, on the next line,
    /// `"osVendor": "Apple"`), and every sample must work as shown; anything else still has to
    /// be JSON. Nil when there is nothing to put back.
    static func withMissingCommas(_ data: Data) -> Data? {
        let text = String(decoding: data, as: UTF8.self)
        let repaired = text.replacing(/("|\d|true|false|null)([ \t\r]*\n[ \t\r]*")/) { "\($0.output.1),\($0.output.2)" }
        return repaired == text ? nil : Data(repaired.utf8)
    }

    /// A JSON string, number or boolean.
    private enum Scalar: Decodable {
        case text(String)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .text(b ? "true" : "false") }
            else if let i = try? c.decode(Int64.self) { self = .text(String(i)) }
            else if let d = try? c.decode(Double.self) { self = .text(String(d)) }
            else { self = .text(try c.decode(String.self)) }
        }
        var text: String { switch self { case .text(let t): t } }
    }
}
