import Crypto
import _CryptoExtras
import Foundation

/// A slow, salted password hash (PBKDF2-HMAC-SHA256) in the text form
/// `pbkdf2-sha256$<rounds>$<salt b64>$<hash b64>`.
///
/// Used only where a person types a password (the directory provider's login page), never on
/// the token-checking hot path.
public struct PasswordHash: Sendable, Equatable {
    public static let defaultRounds = 210_000
    public let rounds: Int
    public let salt: Data
    public let hash: Data

    public init(password: String, rounds: Int = PasswordHash.defaultRounds) throws {
        var generator = SystemRandomNumberGenerator()
        let salt = Data((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try self.init(password: password, salt: salt, rounds: rounds)
    }

    init(password: String, salt: Data, rounds: Int) throws {
        self.rounds = rounds
        self.salt = salt
        self.hash = try Self.derive(password, salt: salt, rounds: rounds)
    }

    /// Parses the text form; `nil` when it is not one.
    public init?(encoded: String) {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), rounds >= 1,
              let salt = Data(base64Encoded: String(parts[2])), let hash = Data(base64Encoded: String(parts[3])),
              !salt.isEmpty, hash.count == 32
        else { return nil }
        self.rounds = rounds
        self.salt = salt
        self.hash = hash
    }

    public var encoded: String {
        "pbkdf2-sha256$\(rounds)$\(salt.base64EncodedString())$\(hash.base64EncodedString())"
    }

    /// Constant-time check of a candidate password.
    public func verify(_ password: String) -> Bool {
        guard let candidate = try? Self.derive(password, salt: salt, rounds: rounds) else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(candidate, hash) { difference |= a ^ b }
        return difference == 0 && candidate.count == hash.count
    }

    private static func derive(_ password: String, salt: Data, rounds: Int) throws -> Data {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Data(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Data($0) }
    }
}
