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
            let reader = try MRSSReader(text)
            id = reader.channelTitle
            if let value = reader.rating {
                guard let rating = Rating(scheme: reader.ratingScheme, value: value) else {
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

    /// Reads an MRSS fragment with Foundation's XMLParser: `<rss><channel>…</channel></rss>`, or
    /// the bare `<channel>…</channel>` real clients send. Titles may be text or CDATA (real MRSS
    /// puts them in CDATA), and the `media:` prefix need not be declared.
    ///
    /// A document that is not well-formed is refused as a whole. libxml2, under Foundation's
    /// parser on Linux, recovers from many errors (an unclosed tag, say) and reports success, so
    /// every error it reports counts, except an undeclared namespace prefix. A document type
    /// declaration is refused before parsing: MRSS has none, and its entities are what
    /// billion-laughs documents are made of.
    private final class MRSSReader: NSObject, XMLParserDelegate {
        private var path: [String] = []
        private var text = ""
        private var foundTitle: String?
        private var wellFormed = true
        var rating: String?
        var ratingScheme: String?
        var channelTitle: String { foundTitle ?? "" }

        init(_ xml: String) throws(TesseraError) {
            super.init()
            guard !Self.hasDeclaration(xml) else {
                throw .malformedResource("the MRSS resource has a document type or entity declaration")
            }
            let parser = XMLParser(data: Data(xml.utf8))
            parser.shouldProcessNamespaces = false
            parser.shouldResolveExternalEntities = false
            parser.delegate = self
            let parsed = parser.parse()
            guard parsed, wellFormed, path.isEmpty else { throw .malformedResource("the MRSS resource is not well-formed XML") }
            guard let title = foundTitle, !title.isEmpty, title.count <= 256, !title.containsNewline else {
                throw .malformedResource("the MRSS resource has no channel title")
            }
        }

        /// Whether `xml` has a markup declaration (`<!DOCTYPE`, `<!ENTITY`, …): any `<!` that
        /// does not open a CDATA section or a comment.
        static func hasDeclaration(_ xml: String) -> Bool {
            let bytes = Array(xml.utf8)
            var index = 0
            while index + 1 < bytes.count {
                if bytes[index] == UInt8(ascii: "<"), bytes[index + 1] == UInt8(ascii: "!") {
                    let rest = bytes[(index + 2)...]
                    if !rest.starts(with: "[CDATA[".utf8), !rest.starts(with: "--".utf8) { return true }
                }
                index += 1
            }
            return false
        }

        /// Where a channel's own title sits: `rss/channel/title`, or `channel/title` at the root.
        private var atChannelTitle: Bool {
            path == ["rss", "channel", "title"] || path == ["channel", "title"]
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            guard wellFormed else { return }
            path.append(name)
            text = ""
            if name == "media:rating", rating == nil { ratingScheme = attributes["scheme"] }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, foundCDATA block: Data) { text += String(decoding: block, as: UTF8.self) }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard wellFormed, path.last == name else { wellFormed = false; return }
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if atChannelTitle, foundTitle == nil { foundTitle = value }
            if name == "media:rating", rating == nil { rating = value }
            path.removeLast()
            text = ""
        }

        func parser(_ parser: XMLParser, parseErrorOccurred error: any Error) {
            // libxml2's namespace errors (XML_NS_ERR_*, 200-299): an undeclared `media:` prefix.
            let code = (error as NSError).code
            if (200..<300).contains(code) { return }
            wellFormed = false
            parser.abortParsing()
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
