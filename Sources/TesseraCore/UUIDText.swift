import Foundation

/// UUIDs as the embedded store keeps them: upper-case text, `8-4-4-4-12` hexadecimal digits, the
/// form of Foundation's `uuidString`.
///
/// Foundation on Linux formats `uuidString` with `snprintf` and parses `UUID(uuidString:)` with
/// `sscanf`; on the store's single writer, which formats and parses two or three ids per login and
/// logout, those two were a visible part of its time (`perf record` of the write cycle,
/// `__vfprintf_internal` and `__vfscanf_internal`). These do the same with a table lookup.
extension UUID {
    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// The same text as `uuidString`.
    public var canonicalText: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    out[at] = Self.hexDigits[Int(byte >> 4)]
                    out[at + 1] = Self.hexDigits[Int(byte & 0x0F)]
                    at += 2
                }
                return 36
            }
        }
    }

    /// Its 128 bits as two numbers, first half first: ids compared by these are in the order of
    /// their text (SQLite's stored form) and of PostgreSQL's `uuid`, so of the stores' indexes on them.
    public var orderKey: (UInt64, UInt64) {
        withUnsafeBytes(of: uuid) { bytes in
            (UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    /// Parses what `init(uuidString:)` parses: `8-4-4-4-12` hexadecimal digits of either case.
    public init?(canonicalText text: String) {
        var text = text
        let parsed: uuid_t? = text.withUTF8 { utf8 in
            guard utf8.count == 36 else { return nil }
            var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let complete = withUnsafeMutableBytes(of: &bytes) { out -> Bool in
                var at = 0
                var index = 0
                while index < 36 {
                    if index == 8 || index == 13 || index == 18 || index == 23 {
                        guard utf8[index] == UInt8(ascii: "-") else { return false }
                        index += 1
                        continue
                    }
                    guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return false }
                    out[at] = high << 4 | low
                    at += 1
                    index += 2
                }
                return at == 16
            }
            return complete ? bytes : nil
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
