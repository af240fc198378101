import ArgumentParser
import Foundation
import TesseraCore
import TesseraServer
import TesseraPostgres
import TesseraSQLite
import TesseraStore

/// `tessera admin rotate-kek`: every private key in the store sealed again under a new
/// key-encryption key, in one transaction, straight on the database (the keys never cross the
/// admin API).
struct RotateKeyEncryptionKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-kek",
        abstract: "Seal every private key in the database under a new key-encryption key.",
        discussion: """
            Reads the current key from --key-file, else TESSERA_KEY_ENCRYPTION_KEY, else the demo's \
            \(DemoKeyEncryptionKey.fileName) in --data-dir. Every key must open with it, or nothing changes. \
            Then give the new key to every instance (server.key_encryption_key or TESSERA_KEY_ENCRYPTION_KEY) \
            and restart them; with the demo's key file, the file is updated. Instances running meanwhile keep \
            the keys they opened, but a key they make before their restart is sealed under the old key: \
            stop them first, or restart them at once.
            """)

    @OptionGroup var location: StoreLocationOptions
    @Option(name: .customLong("key-file"), help: "A file holding the current key-encryption key (base64).") var keyFile: String?
    @Option(name: .customLong("new-key-file"), help: "A file holding the new key-encryption key (base64; openssl rand -base64 32).")
    var newKeyFile: String

    func run() async throws {
        let demoKeyPath = (location.dataDir as NSString).appendingPathComponent(DemoKeyEncryptionKey.fileName)
        let (currentText, fromDemoFile): (String, Bool) = if let keyFile {
            (try String(contentsOfFile: keyFile, encoding: .utf8), false)
        } else if let key = ProcessInfo.processInfo.environment["TESSERA_KEY_ENCRYPTION_KEY"] {
            (key, false)
        } else if location.databaseURL == nil, let key = try? String(contentsOfFile: demoKeyPath, encoding: .utf8) {
            (key, true)
        } else {
            throw ValidationError("give the current key-encryption key: --key-file FILE or TESSERA_KEY_ENCRYPTION_KEY")
        }
        let newText = try String(contentsOfFile: newKeyFile, encoding: .utf8)
        let current = try KeySealing(encoded: currentText)
        let new = try KeySealing(encoded: newText)
        guard currentText.trimmingCharacters(in: .whitespacesAndNewlines) != newText.trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw ValidationError("the new key-encryption key is the current one")
        }
        let store = try await location.open().store
        let count: Int
        do {
            count = try await store.resealKeys { owner, sealed in
                let opened: Data
                do { opened = try current.open(sealed, for: owner) } catch {
                    throw StoreError("\(owner) does not open with the current key-encryption key; nothing was changed")
                }
                return try new.seal(opened, for: owner)
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        if fromDemoFile {
            try DataDirectory.securePrivateFile(demoKeyPath, create: true)
            try Data((newText.trimmingCharacters(in: .whitespacesAndNewlines) + "\n").utf8).write(to: URL(fileURLWithPath: demoKeyPath))
            print("\(count) keys sealed under the new key-encryption key, now in \(demoKeyPath)")
        } else {
            print("\(count) keys sealed under the new key-encryption key: give it to every instance and restart them")
        }
    }
}

/// Which database a command works on directly: the SQLite file in a data folder, or PostgreSQL.
struct StoreLocationOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Folder of the SQLite database.") var dataDir = "tessera-data"
    @Option(help: "postgres://… to work on a PostgreSQL database instead (default: TESSERA_DATABASE_URL).") var database: String?

    var databaseURL: String? { database ?? ProcessInfo.processInfo.environment["TESSERA_DATABASE_URL"] }

    /// The store, migrated to this Tessera's schema, and where it is (without a password).
    func open() async throws -> (store: any Store, description: String) {
        if let url = databaseURL {
            let location = try PostgresLocation(url: url)
            return (try await PostgresStore.open(location), location.redacted)
        }
        if let warning = try DataDirectory.prepare(dataDir) { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let path = (dataDir as NSString).appendingPathComponent("tessera.sqlite")
        return (try SQLiteStore(path: path), path)
    }
}
