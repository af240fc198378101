import Foundation

/// The short code a TV shows ("enter code 7KXQ2M").
///
/// Seven characters from a 29-symbol alphabet without look-alikes (no 0/O, 1/I/L, 5/S):
/// 29^7 ≈ 1.7·10^10 codes. With entry attempts rate-limited per client (see the login
/// limiter) a guesser gets a few hundred tries in a code's lifetime, a chance far below 10^-6
/// even with thousands of live codes. Entry is case-insensitive and ignores spaces and hyphens.
public enum RegistrationCode {
    public static let alphabet = Array("ABCDEFGHJKMNPQRTUVWXYZ2346789")
    public static let length = 7

    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// The canonical form of what a person typed, or `nil` if it cannot be a code.
    public static func normalize(_ input: some StringProtocol) -> String? {
        let cleaned = input.uppercased().filter { $0 != " " && $0 != "-" }
        guard cleaned.count == length, cleaned.allSatisfy(alphabet.contains) else { return nil }
        return cleaned
    }

    /// What the store keys a code by: its digest within its tenant.
    public static func digest(_ normalized: String, tenant: String) -> SecretDigest {
        SecretDigest(of: tenant + "\u{0}" + normalized)
    }
}
