import Foundation
import Hummingbird
import TesseraCore
import TesseraServices

/// The parameters of a request: its query, and for a form POST its body as well (the body wins
/// when both name the same parameter). Query and body are both read as
/// `application/x-www-form-urlencoded`: percent-decoded, and `+` is a space in either, as
/// Python's `urlencode`, Java's `URLEncoder` and HTML forms write it. So `deviceId=q+plus`,
/// `deviceId=q%20plus` and the form body `deviceId=q+plus` name one device, and only `%2B` is a
/// literal plus. (Base64 values, where a `+` sent unencoded arrives as a space, are read back by
/// ``Foundation/Data/init(lenientBase64:)``.)
struct RequestParameters: Sendable {
    static let maximumBodySize = 64 * 1024
    /// Up to this many names are found by a scan; past it, by `index`.
    static let scanLimit = 16
    /// Each name once, in arrival order. A v1 call has a handful of parameters with short
    /// names, and comparing those is cheaper than hashing them: a dictionary here was about 3%
    /// of a cached read's CPU. Past ``scanLimit`` names `index` takes over, so that a request
    /// with thousands of parameters costs no more than it did.
    private var pairs: [(name: String, value: String)] = []
    private var index: [String: Int] = [:]

    init(_ request: Request) async throws(TesseraError) {
        self.init(query: request.uri.query)
        let contentType = request.headers.value(.contentType)?.lowercased() ?? ""
        guard request.method == .post || request.method == .delete, contentType.hasPrefix("application/x-www-form-urlencoded") else { return }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: Self.maximumBodySize) } catch {
            throw .payloadTooLarge(limit: Self.maximumBodySize)
        }
        for (name, value) in Self.parseForm(String(buffer: body)) { set(name, value, replacing: true) }
    }

    /// The parameters of a query string; a name given twice keeps its first value.
    ///
    /// The query is split here rather than through `URI.queryParameters`, which builds an index
    /// of its own first and leaves `+` as it is. A value that is not valid percent-encoding is
    /// kept as sent.
    init(query: String?) {
        guard let query else { return }
        for pair in query.utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let key = Substring(parts[0]), value = parts.count > 1 ? Substring(parts[1]) : ""
            let name = Self.percentDecoded(key, plusIsSpace: true) ?? String(key)
            guard position(of: name) == nil else { continue }
            set(name, Self.percentDecoded(value, plusIsSpace: true) ?? String(value), replacing: false)
        }
    }

    /// The parameters of a form body; a name given twice keeps its first value.
    init(form text: String) {
        for (name, value) in Self.parseForm(text) { set(name, value, replacing: false) }
    }

    private func position(of name: String) -> Int? {
        pairs.count > Self.scanLimit ? index[name] : pairs.firstIndex { $0.name == name }
    }

    private mutating func set(_ name: String, _ value: String, replacing: Bool) {
        if let position = position(of: name) {
            if replacing { pairs[position].value = value }
            return
        }
        pairs.append((name, value))
        guard pairs.count > Self.scanLimit else { return }
        if index.isEmpty {
            for (position, pair) in pairs.enumerated() { index[pair.name] = position }
        } else {
            index[name] = pairs.count - 1
        }
    }

    static func parseForm(_ text: String) -> [(String, String)] {
        text.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String? { percentDecoded(s, plusIsSpace: true) }
            guard let name = decode(parts[0]), !name.isEmpty else { return nil }
            return (name, parts.count > 1 ? decode(parts[1]) ?? "" : "")
        }
    }

    /// Percent-decoding (and `+` as a space in forms and queries). Most parameters have nothing to decode,
    /// and Foundation's decoder is the costliest step of a cached read, so it runs only when needed.
    static func percentDecoded(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        let needsDecoding = text.utf8.contains { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }
        guard needsDecoding else { return String(text) }
        let spaced = plusIsSpace ? text.replacingOccurrences(of: "+", with: " ") : String(text)
        return spaced.removingPercentEncoding
    }

    subscript(_ name: String) -> String? { position(of: name).map { pairs[$0].value } }

    /// The value of `name` if present and non-empty: at most `maxLength` characters and no
    /// control characters, else the error of `parameter`.
    func optional(_ name: String, parameter: TesseraError.Parameter, maxLength: Int) throws(TesseraError) -> String? {
        guard let value = self[name], !value.isEmpty else { return nil }
        guard value.hasAtMost(maxLength) else { throw .invalidParameter(parameter, .tooLong) }
        guard !value.containsControlCharacter else { throw .invalidParameter(parameter, .malformed) }
        return value
    }
}
