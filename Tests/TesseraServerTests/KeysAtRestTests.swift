import Crypto
import _CryptoExtras
import Foundation
import HTTPTypes
import Logging
import Testing
import TesseraCore
import TesseraStore
@testable import TesseraServer
@testable import TesseraServices

/// Every private key in the store is sealed under the key-encryption key: a dump alone cannot
/// sign a token. Keys an older Tessera kept in the clear are sealed at the first start; a change
/// of key-encryption key reseals them all and keeps every key (a bearer issued before still
/// works). On the store the tests run on (SQLite, or PostgreSQL with TESSERA_TEST_STORE=postgres).
@Suite struct KeysAtRestTests {
    static var sealing: KeySealing { Fixture.configuration.keySealing! }  // swiftlint:disable:this force_unwrapping

    /// The opened private keys the store holds, by algorithm: what must not be in a dump.
    static func secrets(_ store: any Store, sealing: KeySealing = sealing) async throws -> [String: Data] {
        var secrets: [String: Data] = [:]
        for key in try await store.signingKeys() {
            guard case .sealed(let box) = key.privateKey else {
                Issue.record("\(key.owner) is stored in the clear")
                continue
            }
            let text = String(decoding: try sealing.open(box, for: key.owner), as: UTF8.self)
            secrets[key.algorithm] = switch key.algorithm {
            case "RS256": try _RSA.Signing.PrivateKey(pemRepresentation: text).derRepresentation
            case "ES256": try P256.Signing.PrivateKey(pemRepresentation: text).rawRepresentation
            default: Data(base64Encoded: text) ?? Data()
            }
        }
        return secrets
    }

    @Test func aDumpHoldsNoSigningKey() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            _ = try await wire.bearer()
            let secrets = try await Self.secrets(wire.store)
            #expect(Set(secrets.keys) == ["RS256", "ES256", TokenAuthority.formKeyAlgorithm])
            let dump = try await harness.dump()
            #expect(!dump.isEmpty)
            #expect(dump.range(of: Data("PRIVATE KEY".utf8)) == nil)
            for (algorithm, secret) in secrets {
                // An RSA DER ends with the CRT coefficient (its start is the public modulus); the
                // EC scalar and the form key are secret throughout.
                #expect(!Harness.dump(dump, holds: secret), "\(algorithm) in the clear")
            }
        }
    }

    /// What a Tessera before key sealing left: its keys in the clear. The first start seals them
    /// and keeps them (same kids, same public keys).
    @Test func keysKeptInTheClearAreSealedAtTheFirstStart() async throws {
        let harness = try Harness()
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let ec = P256.Signing.PrivateKey()
        let formKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        let legacy = [
            StoredSigningKey(kid: "rs-legacy", algorithm: "RS256", privateKey: .clear(rsa.pemRepresentation), createdAt: Fixture.start),
            StoredSigningKey(kid: "es-legacy", algorithm: "ES256", privateKey: .clear(ec.pemRepresentation), createdAt: Fixture.start),
            StoredSigningKey(kid: "hs-legacy", algorithm: TokenAuthority.formKeyAlgorithm, privateKey: .clear(formKey.base64EncodedString()),
                             createdAt: Fixture.start),
        ]
        try DataDirectory.prepare(harness.dataDirectory)
        let options = ServerOptions(dataDirectory: harness.dataDirectory, configuration: harness.configuration)
        let store = try await options.openStore(logger: Logger(label: "test"))
        for key in legacy { try await store.insertUnlessAlgorithmHasKey(key) }
        await store.close()

        try await harness.run { wire in
            let stored = try await wire.store.signingKeys()
            #expect(Set(stored.map(\.kid)) == Set(legacy.map(\.kid)))
            let secrets = try await Self.secrets(wire.store)
            #expect(secrets["RS256"] == rsa.derRepresentation)
            #expect(secrets["ES256"] == ec.rawRepresentation)
            #expect(secrets[TokenAuthority.formKeyAlgorithm] == formKey)
            // The published key is the one kept, and a bearer it signs is accepted.
            let jwks = try #require(try JSONSerialization.jsonObject(with: Data(wire.services.tokens.jwksJSON.utf8)) as? [String: Any])
            let kids = (jwks["keys"] as? [[String: Any]])?.compactMap { $0["kid"] as? String } ?? []
            #expect(Set(kids) == ["rs-legacy", "es-legacy"])
            let bearer = try await wire.bearer()
            #expect(try await wire.send(.get, "/api/v1/config/REF30", headers: bearer).status == .ok)
            // Not even in the pages the clear rows stood in (SQLite) or in a dump (PostgreSQL).
            let dump = try await harness.dump()
            #expect(dump.range(of: Data("PRIVATE KEY".utf8)) == nil)
            for secret in secrets.values { #expect(!Harness.dump(dump, holds: secret)) }
        }
    }

    /// Another key-encryption key than the one that sealed the keys, or none, and the start is
    /// refused with the reason.
    @Test func aStartWithAnotherKeyEncryptionKeyOrNoneIsRefused() async throws {
        let harness = try Harness()
        try await harness.run { wire in _ = try await wire.bearer() }
        var other = harness.configuration
        other.keySealing = try KeySealing(encoded: KeySealing.generateEncodedKey())
        await #expect { try await Harness(reopening: harness, configuration: other).run { _ in } } throws: { error in
            (error as? ConfigurationError)?.description.contains("does not open with this key-encryption key") == true
        }
        other.keySealing = nil
        await #expect { try await Harness(reopening: harness, configuration: other).run { _ in } } throws: { error in
            (error as? ConfigurationError)?.description.contains("TESSERA_KEY_ENCRYPTION_KEY") == true
        }
        // The right key still opens them: the refused starts changed nothing.
        try await Harness(reopening: harness, configuration: harness.configuration).run { wire in
            let bearer = try await wire.bearer()
            #expect(try await wire.send(.get, "/api/v1/config/REF30", headers: bearer).status == .ok)
        }
    }

    /// `tessera admin rotate-kek`: every key (signing keys and application keys) sealed under the
    /// new key in one go; a bearer and an application's public key from before stay good; the old
    /// key no longer starts the server. A wrong current key changes nothing.
    @Test func rotateKEKResealsEveryKeyAndKeepsThem() async throws {
        let harness = try Harness()
        let before = Findings()
        try await harness.run { wire in
            let bearer = try await wire.bearer()
            before.add(bearer[.authorization] ?? "")
            let publicKey = try await OneAccessSDKTests.publicKey(wire)
            before.add(publicKey.derRepresentation.base64EncodedString())
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-kek-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let newKey = KeySealing.generateEncodedKey()
        try Data(newKey.utf8).write(to: folder.appendingPathComponent("new"))
        let location = ["--data-dir", harness.dataDirectory] + (harness.configuration.databaseURL.map { ["--database", $0] } ?? [])
        let arguments = ["admin", "rotate-kek", "--new-key-file", folder.appendingPathComponent("new").path] + location

        // A wrong current key: refused, nothing changed.
        let wrong = try await AdminCommandTests.tessera(arguments, environment: ["TESSERA_KEY_ENCRYPTION_KEY": KeySealing.generateEncodedKey()])
        #expect(wrong.status != 0)
        let rotated = try await AdminCommandTests.tessera(arguments, environment: ["TESSERA_KEY_ENCRYPTION_KEY": Fixture.encodedKeyEncryptionKey])
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(rotated.output.contains("4 keys sealed under the new key-encryption key"), "\(rotated.output)")

        let newSealing = try KeySealing(encoded: newKey)
        var renewed = harness.configuration
        renewed.keySealing = newSealing
        try await Harness(reopening: harness, configuration: renewed).run { wire in
            let secrets = try await Self.secrets(wire.store, sealing: newSealing)
            #expect(secrets.count == 3)
            var bearer = HTTPFields()
            bearer[.authorization] = before.all[0]
            #expect(try await wire.send(.get, "/api/v1/config/REF30", headers: bearer).status == .ok)
            #expect(try await OneAccessSDKTests.publicKey(wire).derRepresentation.base64EncodedString() == before.all[1])
        }
        await #expect(throws: ConfigurationError.self) {
            try await Harness(reopening: harness, configuration: harness.configuration).run { _ in }
        }
    }
}
