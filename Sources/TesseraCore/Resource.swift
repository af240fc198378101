#if canImport(FoundationXML)
import FoundationXML
#endif
import Foundation

/// What a device asks to play: a plain resource id, or an MRSS fragment whose channel title is
/// the resource and whose item may carry a `media:rating`.
///
/// ```swift
/// let r = try ResourceRequest(parsing: #"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>TNT</title><item><title>Ep</title><media:rating scheme="urn:v-chip">TV-14</media:rating></item></channel></rss>"#)
/// // r.id == "TNT", r.rating == Rating(scheme: .vchip, value: "TV-14")
/// ```
public struct ResourceRequest: Sendable, Equatable {
    public static let maximumLength = 8192
    public let id: String
    public let rating: Rating?
    /// The text as sent; stored decisions are keyed by the resource id.
    public let raw: String

    public init(parsing raw: String) throws(TesseraError) {
        // Trim only when there is something to trim: Foundation's trimming is costly on a hot path.
        let text = raw.hasEdgeWhitespace ? raw.trimmingCharacters(in: .whitespacesAndNewlines) : raw
        guard !text.isEmpty else { throw .invalidParameter(.resource, .missing) }
        guard text.hasAtMost(Self.maximumLength) else { throw .invalidParameter(.resource, .tooLong) }
        self.raw = text
        if text.hasPrefix("<") {
            let parser = MRSSReader(text)
            guard let channel = parser.channelTitle, !channel.isEmpty, channel.count <= 256 else {
                throw .malformedResource("the MRSS resource has no channel title or is not well-formed XML")
            }
            id = channel
            if let value = parser.rating {
                guard let rating = Rating(scheme: parser.ratingScheme, value: value) else {
                    throw .malformedResource("the MRSS media:rating \(value) is not a known rating")
                }
                self.rating = rating
            } else {
                rating = nil
            }
        } else {
            guard text.hasAtMost(256), !text.containsNewline else { throw .invalidParameter(.resource, .malformed) }
            id = text
            rating = nil
        }
    }

    /// Parses the MRSS fragment with Foundation's XMLParser.
    private final class MRSSReader: NSObject, XMLParserDelegate {
        var path: [String] = []
        var text = ""
        var channelTitle: String?
        var rating: String?
        var ratingScheme: String?
        var wellFormed = false

        init(_ xml: String) {
            super.init()
            let parser = XMLParser(data: Data(xml.utf8))
            parser.shouldProcessNamespaces = false
            parser.shouldResolveExternalEntities = false
            parser.delegate = self
            wellFormed = parser.parse()
            if !wellFormed || path.first != nil { channelTitle = nil }
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            path.append(name)
            text = ""
            if name == "media:rating" { ratingScheme = attributes["scheme"] }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if path == ["rss", "channel", "title"] { channelTitle = value }
            if name == "media:rating", rating == nil { rating = value }
            path.removeLast()
            text = ""
        }
    }
}

/// A content rating on one of the two scales MRSS items carry.
public struct Rating: Sendable, Equatable {
    public enum Scale: String, Sendable {
        case vchip = "VCHIP", mpaa = "MPAA"
        /// From least to most restricted.
        var order: [String] {
            switch self {
            case .vchip: ["TV-Y", "TV-Y7", "TV-G", "TV-PG", "TV-14", "TV-MA"]
            case .mpaa: ["G", "PG", "PG-13", "R", "NC-17"]
            }
        }
    }

    public let scale: Scale
    public let value: String

    /// `scheme` is the MRSS scheme (`urn:v-chip`, `urn:mpaa`); without one the scale is told from the value.
    public init?(scheme: String?, value: String) {
        let upper = value.uppercased()
        let scale: Scale
        switch scheme?.lowercased() {
        case "urn:v-chip": scale = .vchip
        case "urn:mpaa": scale = .mpaa
        case nil: scale = upper.hasPrefix("TV-") ? .vchip : .mpaa
        default: return nil
        }
        guard scale.order.contains(upper) else { return nil }
        self.scale = scale
        self.value = upper
    }

    /// Whether this rating is above `ceiling` (same scale). A ceiling the scale does not know allows nothing rated.
    public func exceeds(_ ceiling: String) -> Bool {
        guard let mine = scale.order.firstIndex(of: value) else { return true }
        guard let limit = scale.order.firstIndex(of: ceiling.uppercased()) else { return true }
        return mine > limit
    }
}
