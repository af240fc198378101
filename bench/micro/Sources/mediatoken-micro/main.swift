import Crypto
import Foundation
import JWTKit
import TesseraMediaToken

/// Microseconds per call of `body`, over `count` calls.
func microseconds(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<count { try body() }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(count) / 1000
}

let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20_000 : 20_000
let kid = "es-benchmark"
let key = ES256PrivateKey()
let keys = JWTKeyCollection()
await keys.add(ecdsa: key, kid: JWKIdentifier(string: kid))
let signer = try await MediaTokenSigner(key: key, kid: kid)
let algorithm = try await keys.getKey(for: JWKIdentifier(string: kid))
let p256 = try P256.Signing.PrivateKey(pemRepresentation: key.pemRepresentation)
let now = Date(timeIntervalSince1970: 1_800_000_000)
let claims = MediaTokenClaims(issuer: "tessera", requestor: "REF30", resource: "REF30", mvpd: "Cablevision", userID: "user-0000123",
                              issuedAt: now, expiresAt: now.addingTimeInterval(420), id: "0f8fad5b-d9cb-469f-a165-70867728950e")
let signingInput = Array(try signer.compactJWS(claims).split(separator: UInt8(ascii: ".")).prefix(2).joined(separator: [UInt8(ascii: ".")]))

// Both paths must produce tokens the verifier accepts, or the figures mean nothing.
let verifier = try await MediaTokenVerifier(publicKeyPEM: key.publicKey.pemRepresentation)
let viaCollection = Data(try await keys.sign(claims, kid: JWKIdentifier(string: kid)).utf8).base64EncodedString()
for token in [viaCollection, try signer.serializedToken(claims)] {
    guard await verifier.verify(token, resource: "REF30", now: now) == .valid(claims) else { fatalError("a benchmarked token does not verify") }
}

print("µs per media token, \(count) tokens per figure, one thread")
// The direct signature must verify as ES256 too.
do {
    let signature = try p256.signature(for: SHA256.hash(data: signingInput)).rawRepresentation
    guard try algorithm.verify(signature, signs: signingInput) else { fatalError("the direct P-256 signature does not verify") }
}
print("round  jwt-kit key collection  MediaTokenSigner  ES256 alone (jwt-kit)  ES256 alone (P256 direct)")
for round in 1...3 {
    let old = await Task.detached {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<count {
            let jws = try! await keys.sign(claims, kid: JWKIdentifier(string: kid))
            _ = Data(jws.utf8).base64EncodedString()
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(count) / 1000
    }.value
    let new = await Task.detached { try! microseconds(count) { _ = try signer.serializedToken(claims) } }.value
    let floor = try microseconds(count) { _ = try algorithm.sign(signingInput) }
    let direct = try microseconds(count) { _ = try p256.signature(for: SHA256.hash(data: signingInput)).rawRepresentation }
    print(String(format: "%5d  %22.1f  %16.1f  %21.1f  %25.1f", round, old, new, floor, direct))
}
