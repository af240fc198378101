import Crypto
import Foundation

/// Opaque secrets (tokens, client secrets, browser states) and their stored form.
///
/// A secret leaves Tessera once, in the response that creates it; only its ``SecretDigest``
/// is stored and looked up, so a copy of the database gives nobody a usable token.
public enum Secret {
    /// A new secret of `byteCount` bytes from the system CSPRNG, base64url without padding.
    public static func generate(byteCount: Int = 32) -> String {
        randomBytes(byteCount).base64URLEncoded()
    }

    /// A new secret of `count` letters and digits from the system CSPRNG (about 5.95 bits each), for
    /// dialects whose tokens are alphanumeric. Bytes of 248 and above are drawn again, so every
    /// character is equally likely.
    public static func alphanumeric(count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var characters: [UInt8] = []
        characters.reserveCapacity(count)
        while characters.count < count {
            for byte in randomBytes(count) where byte < 248 && characters.count < count {
                characters.append(alphabet[Int(byte) % 62])
            }
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// `count` bytes from the system CSPRNG, eight at a time (each draw is a getrandom(2) call).
    public static func randomBytes(_ count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        var bytes = Data(capacity: count + 8)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return bytes.prefix(count)
    }
}

extension UUID {
    /// A random (version 4) UUID from the system CSPRNG. Foundation's `UUID.random()` on Linux opens,
    /// reads and closes /dev/urandom on every call: on the store's single writer, that was a few
    /// per cent of every login.
    public static func random() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var words = (generator.next() as UInt64, generator.next() as UInt64)
        return withUnsafeMutableBytes(of: &words) { raw in
            raw[6] = (raw[6] & 0x0F) | 0x40  // version 4
            raw[8] = (raw[8] & 0x3F) | 0x80  // RFC 4122 variant
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }

    /// A time-ordered (version 7, RFC 9562) UUID: the Unix time of `date` in milliseconds, then
    /// 74 bits from the system CSPRNG. For ids that a store indexes: ids made one after another
    /// sort next to each other, so a new row's entry lands on the index page the previous one
    /// dirtied instead of on a random page of the whole index (one page write fewer per login on
    /// SQLite's WAL, and the same locality for PostgreSQL's B-trees). Not for secrets: the time
    /// is readable in it.
    public static func timeOrdered(at date: Date) -> UUID {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, date.epochMilliseconds)) & 0xFFFF_FFFF_FFFF
        var words = ((milliseconds << 16).bigEndian, generator.next() as UInt64)
        let random = generator.next() as UInt64
        return withUnsafeMutableBytes(of: &words) { raw in
            raw[6] = 0x70 | UInt8(truncatingIfNeeded: random & 0x0F)  // version 7
            raw[7] = UInt8(truncatingIfNeeded: random >> 8)
            raw[8] = (raw[8] & 0x3F) | 0x80  // RFC 9562 variant
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }
}

/// SHA-256 of a secret: what the store keeps and indexes instead of the secret itself.
public struct SecretDigest: Hashable, Sendable {
    public let bytes: Data
    public init(bytes: Data) { self.bytes = bytes }
    public init(of secret: String) { bytes = Data(SHA256.hash(data: Data(secret.utf8))) }

    /// Lower-case hexadecimal, for logs that must name a secret's owner without naming it.
    public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Constant-time comparison, for the places where a digest is compared rather than looked up.
    public func matches(_ secret: String) -> Bool {
        let other = Data(SHA256.hash(data: Data(secret.utf8)))
        guard other.count == bytes.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(other, bytes) { difference |= a ^ b }
        return difference == 0
    }
}

extension Data {
    /// Bytes from hexadecimal text, either case; nil for an odd length or a non-hex character.
    public init?(hexadecimal text: some StringProtocol) {
        var data = Data(capacity: text.utf8.count / 2)
        var high: UInt8?
        for character in text.utf8 {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high { data.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        guard high == nil else { return nil }
        self = data
    }

    public func base64URLEncoded() -> String {
        base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes standard or URL-safe base64, with or without padding. A space is read as `+`,
    /// because unencoded `+` in a query string arrives as a space from form decoding.
    public init?(lenientBase64 text: some StringProtocol) {
        // One pass over the bytes (this runs on every REST v2 request, for AP-Device-Identifier):
        // a space is an unencoded `+` (so it is never trimmed), `-` and `_` are base64url's.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "-"): bytes.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): bytes.append(UInt8(ascii: "/"))
            default: bytes.append(byte)
            }
        }
        func isBlank(_ byte: UInt8) -> Bool { (0x09...0x0D).contains(byte) }
        while let last = bytes.last, isBlank(last) { bytes.removeLast() }
        let start = bytes.firstIndex { !isBlank($0) } ?? bytes.endIndex
        if start > 0 { bytes.removeFirst(start) }
        let remainder = bytes.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { bytes += [UInt8](repeating: UInt8(ascii: "="), count: 4 - remainder) }
        self.init(base64Encoded: Data(bytes))
    }
}
