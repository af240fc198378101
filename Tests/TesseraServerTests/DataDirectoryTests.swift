import Foundation
import Testing
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore

/// The data folder holds the private signing keys: 0700, its files 0600.
@Suite(.enabled(if: TestStore.postgresURL == nil, "the SQLite files are what this checks"))
struct DataDirectoryTests {
    static func mode(_ path: String) throws -> mode_t { try DataDirectory.mode(of: path) }

    static func files(_ directory: String) -> [String] {
        ["tessera.sqlite", "tessera.sqlite-wal", "tessera.sqlite-shm"].map { (directory as NSString).appendingPathComponent($0) }
    }

    @Test func aNewFolderIs0700AndItsFiles0600() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            _ = try await wire.bearer() // a write, so that the WAL exists
            #expect(try Self.mode(harness.dataDirectory) == 0o700)
            for file in Self.files(harness.dataDirectory) {
                #expect(FileManager.default.fileExists(atPath: file), "\(file)")
                #expect(try Self.mode(file) == 0o600, "\(file)")
            }
        }
    }

    @Test func anExistingOpenFolderIsWarnedAboutAndItsFilesMadePrivate() async throws {
        let harness = try Harness()
        try await harness.run { _ in }
        // As an older Tessera left it: 0755, files 0644.
        #expect(chmod(harness.dataDirectory, 0o755) == 0)
        for file in Self.files(harness.dataDirectory) where FileManager.default.fileExists(atPath: file) { #expect(chmod(file, 0o644) == 0) }
        let credentials = (harness.dataDirectory as NSString).appendingPathComponent("credentials.json")
        #expect(FileManager.default.createFile(atPath: credentials, contents: Data("{}".utf8), attributes: [.posixPermissions: 0o644]))

        let warning = try #require(try DataDirectory.prepare(harness.dataDirectory))
        #expect(warning.contains("open to other users (mode 755)"))
        try await harness.run { wire in
            _ = try await wire.bearer()
            try await Credentials.make(services: wire.services, baseURL: "http://127.0.0.1", metadataPrivateKey: nil).write(to: credentials)
        }
        #expect(try Self.mode(harness.dataDirectory) == 0o755) // the operator's choice, warned about
        for file in Self.files(harness.dataDirectory) + [credentials] where FileManager.default.fileExists(atPath: file) {
            #expect(try Self.mode(file) == 0o600, "\(file)")
        }
        #expect(chmod(harness.dataDirectory, 0o700) == 0)
        #expect(try DataDirectory.prepare(harness.dataDirectory) == nil)
    }
}
