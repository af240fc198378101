/// Length and character checks on request text, cheap for the ASCII every hot path carries.
///
/// `String.count` walks grapheme clusters and `Unicode.Scalar.Properties` looks up tables: on a
/// 700-byte bearer token or a device id they cost more than the rest of a cached read. Both
/// answers here equal the general ones; the general ones run only for text that needs them.
/// (On `String` rather than `StringProtocol`: unspecialized generic code across modules costs
/// a witness call per byte.)
extension String {
    /// Whether the text has at most `limit` characters (grapheme clusters).
    public func hasAtMost(_ limit: Int) -> Bool {
        // A character takes at least one UTF-8 byte, so this many bytes cannot be too many characters.
        utf8.count <= limit || count <= limit
    }

    /// Whether any scalar is a control character (general category Cc), such as a newline or NUL.
    public var containsControlCharacter: Bool {
        var ascii = true
        for byte in utf8 {
            if byte < 0x20 || byte == 0x7F { return true }
            if byte >= 0x80 { ascii = false; break }
        }
        return !ascii && unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// Whether any character is a newline (including CR LF, U+0085, U+2028 and U+2029).
    public var containsNewline: Bool {
        var ascii = true
        for byte in utf8 {
            if (0x0A...0x0D).contains(byte) { return true }
            if byte >= 0x80 { ascii = false; break }
        }
        return !ascii && contains { $0.isNewline }
    }

    /// Whether the first or last character is whitespace (what trimming would remove).
    public var hasEdgeWhitespace: Bool {
        func isASCIISpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        guard let head = utf8.first, let tail = utf8.last else { return false }
        if head < 0x80 ? isASCIISpace(head) : first?.isWhitespace == true { return true }
        return tail < 0x80 ? isASCIISpace(tail) : last?.isWhitespace == true
    }
}
