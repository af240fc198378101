import Foundation
import GRDB
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraSQLite
@testable import TesseraStore

/// README's SQLite backup, taken while Tessera serves (`VACUUM INTO`, as `sqlite3 … "VACUUM INTO …"`
/// runs it), restores into a Tessera that knows the same devices and keys.
@Suite struct BackupTests {
    @Test func aBackupTakenWhileServingRestoresSessionsAndKeys() async throws {
        guard TestStore.postgresURL == nil else { return }  // SQLite's file; PostgreSQL backs up with pg_dump
        let harness = try Harness()
        let backup = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-backup-\(UUID()).sqlite").path
        let signedIn = Findings()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "backed-up-tv")
            signedIn.add(try #require(auth[.authorization]))
            // Taken from a connection of its own while the server runs; a logout after it is not in it.
            let side = try DatabaseQueue(path: harness.databasePath, configuration: SQLiteStore.sideConfiguration)
            try await side.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [backup]) }
            _ = try await wire.signedIn(deviceID: "after-the-backup")
        }
        let restored = try Harness()
        try DataDirectory.prepare(restored.dataDirectory)
        try FileManager.default.copyItem(atPath: backup, toPath: restored.databasePath)
        try await restored.run { wire in
            let auth: HTTPFields = [.authorization: signedIn.all[0]]
            let kept = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("backed-up-tv"), headers: auth)
            #expect(kept.status == .ok)
            let later = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("after-the-backup"), headers: auth)
            #expect(later.status == .forbidden)
        }
        // Without the key-encryption key the backup does not start.
        var keyless = restored.configuration
        keyless.keySealing = try KeySealing(encoded: KeySealing.generateEncodedKey())
        await #expect(throws: ConfigurationError.self) { try await Harness(reopening: restored, configuration: keyless).run { _ in } }
    }
}
