import Foundation
import Logging
import Synchronization
import TesseraCore

/// Every request's id: the client's `X-Request-Id` (any case of the name) when it is well formed,
/// else a new one. The id is in every answer's `X-Request-Id`, in every log line of the request,
/// and where a dialect's body carries one (v1's `trace`, USG's `request_id`).
public enum RequestIDs {
    /// A client's id is taken when it is 1 to 64 letters, digits, `-`, `_` or `.` (anything else
    /// could forge log lines or smuggle a secret into them).
    /// The id of the request this task serves.
    @TaskLocal static var current: String?

    /// Puts the current request's id in every log line written while it runs.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let id = current else { return [:] }
        return ["request": .string(id)]
    }

    static func isWellFormed(_ sent: String) -> Bool {
        (1...64).contains(sent.utf8.count) && sent.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }

    static func id(sent: String?) -> String {
        if let sent, isWellFormed(sent) { return sent }
        return next()
    }

    /// 32 lower-case hex characters, as Huawei's examples show: a random prefix drawn once per
    /// process and a counter, so that no request pays for a call into the CSPRNG (a request id is
    /// a name, not a secret).
    static func next() -> String {
        let count = counter.add(1, ordering: .relaxed).oldValue
        return prefix + hex(count)
    }

    private static let prefix = hex(UInt64.random(in: .min ... .max))
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0...UInt64(UInt32.max)))

    private static func hex(_ value: UInt64) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 16) { buffer in
            for index in 0..<16 { buffer[index] = digits[Int((value >> UInt64(60 - index * 4)) & 0xF)] }
            return 16
        }
    }
}
