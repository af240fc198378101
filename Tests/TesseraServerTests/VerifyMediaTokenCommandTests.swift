import Foundation
import JWTKit
import Testing
import TesseraMediaToken

/// `tessera verify-media-token` from the command line: prints the result, exits 0 only when valid.
@Suite struct VerifyMediaTokenCommandTests {
    func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let (status, output) = try await ChildProcess.run([TesseraProcess.executable.path, "verify-media-token"] + arguments, withErrors: true)
        return (status, String(decoding: output, as: UTF8.self))
    }

    @Test func verifiesWithAJWKSFileOrAPublicKey() async throws {
        let key = ES256PrivateKey()
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key, kid: "es-test")
        let claims = MediaTokenClaims(issuer: "tessera", requestor: "REF30", resource: "TNT", mvpd: "Dish", userID: "u1",
                                      issuedAt: Date(), expiresAt: Date().addingTimeInterval(600), id: "t")
        let token = Data(try await keys.sign(claims, kid: "es-test").utf8).base64EncodedString()
        let point = try #require(key.publicKey.parameters)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-verify-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let jwksFile = directory.appendingPathComponent("jwks.json").path
        try JSONEncoder().encode(JWKS(keys: [.ecdsa(.es256, identifier: "es-test", x: point.x, y: point.y, curve: .p256)]))
            .write(to: URL(fileURLWithPath: jwksFile))
        let pemFile = directory.appendingPathComponent("key.pem").path
        try key.publicKey.pemRepresentation.write(toFile: pemFile, atomically: true, encoding: .utf8)

        let valid = try await run(["--jwks", jwksFile, "--resource", "TNT", token])
        #expect(valid.status == 0)
        #expect(valid.output.hasPrefix("VALID_TOKEN\nrequestor=REF30 resource=TNT mvpd=Dish userId=u1"))
        #expect(try await run(["--public-key", pemFile, token]).status == 0)
        let wrongResource = try await run(["--jwks", jwksFile, "--resource", "CNN", token])
        #expect(wrongResource.status == 1)
        #expect(wrongResource.output == "INVALID_RESOURCE_ID\n")
        let other = try await run(["--public-key", pemFile, Data("x.y.z".utf8).base64EncodedString()])
        #expect(other.output == "INVALID_TOKEN_FORMAT\n")
        #expect(try await run([token]).status != 0) // no key given
    }
}
