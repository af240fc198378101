import Foundation
import TesseraCore

/// An upstream login's claims as both stores keep them: JSON with sorted keys.
package enum UpstreamLoginCoding {
    package static func encode(_ claims: UpstreamClaims) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(claims)
    }

    package static func decode(_ data: Data) throws -> UpstreamClaims {
        try JSONDecoder().decode(UpstreamClaims.self, from: data)
    }

    /// The token kinds a row seals, as ``KeySealing/Owner/upstreamToken(sessionID:kind:)`` names them.
    package static let idToken = "id_token"
    package static let refreshToken = "refresh_token"
}
