import Foundation
import JWTKit
import Testing
import TesseraMediaToken

/// `tessera verify-media-token` from the command line: prints the result, exits 0 only when valid.
@Suite struct VerifyMediaTokenCommandTests {
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = TesseraProcess.executable
        process.arguments = ["verify-media-token"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.spawn()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
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

        let valid = try run(["--jwks", jwksFile, "--resource", "TNT", token])
        #expect(valid.status == 0)
        #expect(valid.output.hasPrefix("VALID_TOKEN\nrequestor=REF30 resource=TNT mvpd=Dish userId=u1"))
        #expect(try run(["--public-key", pemFile, token]).status == 0)
        let wrongResource = try run(["--jwks", jwksFile, "--resource", "CNN", token])
        #expect(wrongResource.status == 1)
        #expect(wrongResource.output == "INVALID_RESOURCE_ID\n")
        let other = try run(["--public-key", pemFile, Data("x.y.z".utf8).base64EncodedString()])
        #expect(other.output == "INVALID_TOKEN_FORMAT\n")
        #expect(try run([token]).status != 0) // no key given
    }
}
