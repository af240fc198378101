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
    static let requestIDKey = "hb.request.id"
    private var otherMetadata: Logger.Metadata = [:]
    private var requestID: Logger.Metadata.Value?
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

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
        let metadata = self.metadata
        let merged = explicit.map { metadata.merging($0) { _, new in new } } ?? metadata
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let time = Date().formatted(.iso8601)
        let text = "\(time) \(level) \(label): \(message)\(fields.isEmpty ? "" : " " + fields)\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}
