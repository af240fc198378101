import Foundation
import GRDB
import PostgresNIO
import Testing
import TesseraCore
@testable import TesseraStore
@testable import TesseraSQLite
@testable import TesseraPostgres

/// The stores the conformance suite runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    /// PostgreSQL joins when TESSERA_TEST_DATABASE_URL is set (`.ci/run` sets it).
    static var postgresURL: String? { ProcessInfo.processInfo.environment["TESSERA_TEST_DATABASE_URL"] }
    static var available: [Backend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    var testDescription: String { rawValue }

    /// A location in a fresh schema of the test database, with a small pool.
    static func freshPostgresLocation() throws -> PostgresLocation {
        guard let url = postgresURL else { throw StoreError("TESSERA_TEST_DATABASE_URL is not set") }
        var location = try PostgresLocation(url: url)
        location.schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        location.poolSize = 4
        return location
    }

    /// Runs `body` with a new, empty store, and a way to open a second store on the same data.
    func withStore(_ body: (any Store, _ reopen: ((any Store) async throws -> Void) async throws -> Void) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-store-\(UUID())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = dir + "/t.sqlite"
            let store = try SQLiteStore(path: path)
            try await body(store) { inner in try await inner(try SQLiteStore(path: path)) }
            await store.close()
        case .postgres:
            let location = try Self.freshPostgresLocation()
            let store = try await PostgresStore.open(location)
            do {
                try await body(store) { inner in
                    let second = try await PostgresStore.open(location)
                    do { try await inner(second) } catch { await second.close(); throw error }
                    await second.close()
                }
            } catch {
                await Self.drop(location.schema, with: store)
                throw error
            }
            await Self.drop(location.schema, with: store)
        }
    }

    static func drop(_ schema: String, with store: PostgresStore) async {
        _ = try? await store.client.query("DROP SCHEMA \(unescaped: schema) CASCADE")
        await store.close()
    }

    /// Breaks the store under its feet, to see a storage failure surface as an error.
    func dropSessionTable(of store: any Store) async throws {
        if let store = store as? SQLiteStore {
            try await store.pool.write { db in try db.execute(sql: "DROP TABLE session") }
        } else if let store = store as? PostgresStore {
            try await store.client.query("DROP TABLE session CASCADE")
        }
    }
}
