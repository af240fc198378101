import Foundation
import Logging

/// Writes one line per message to standard error, formatting metadata only when a message is
/// actually written.
///
/// swift-log's `StreamLogHandler` renders its metadata again on every change, and Hummingbird
/// sets a request id on every request's logger: at `warning` that rendering was about 5 % of a
/// cached read's CPU for lines that are never written.
///
/// That request id is kept beside the other metadata rather than in its dictionary: inserting it
/// allocated a dictionary for every request (about 1% of a cached read's CPU).
public struct LineLogHandler: LogHandler {
    /// How a line is written: `text` (time, level, label, message, then `key=value` pairs) or
    /// `json` (one JSON object a line, the request id under `request`).
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    static let requestIDKey = "hb.request.id"
    private var otherMetadata: Logger.Metadata = [:]
    private var requestID: Logger.Metadata.Value?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let format: Format
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String) { self.init(label: label, format: .text) }

    public init(label: String, format: Format, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.format = format
        self.metadataProvider = metadataProvider
    }

    public var metadata: Logger.Metadata {
        get {
            guard let requestID else { return otherMetadata }
            var all = otherMetadata
            all[Self.requestIDKey] = requestID
            return all
        }
        set {
            requestID = newValue[Self.requestIDKey]
            otherMetadata = newValue
            otherMetadata[Self.requestIDKey] = nil
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { key == Self.requestIDKey ? requestID : otherMetadata[key] }
        set {
            if key == Self.requestIDKey { requestID = newValue } else { otherMetadata[key] = newValue }
        }
    }

    public func log(event: LogEvent) {
        let (level, message, explicit) = (event.level, event.message, event.metadata)
        var merged = metadataProvider.map { self.metadata.merging($0.get()) { old, _ in old } } ?? metadata
        if let explicit { merged.merge(explicit) { _, new in new } }
        // The request's id is `request` in both formats.
        if let id = merged.removeValue(forKey: Self.requestIDKey) { merged["request"] = id }
        let time = Date().formatted(.iso8601)
        switch format {
        case .text:
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let text = "\(time) \(level) \(label): \(message)\(fields.isEmpty ? "" : " " + fields)\n"
            FileHandle.standardError.write(Data(text.utf8))
        case .json:
            var object = merged.mapValues { $0.description }
            object["time"] = time
            object["level"] = level.rawValue
            object["label"] = label
            object["message"] = message.description
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard var line = try? encoder.encode(object) else { return }
            line.append(UInt8(ascii: "\n"))
            FileHandle.standardError.write(line)
        }
    }
}
