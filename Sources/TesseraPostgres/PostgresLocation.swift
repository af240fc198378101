import TesseraStore
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL database is, from a `postgres://user:password@host:port/database` URL.
///
/// Query parameters: `sslmode` (`disable`, `prefer` as libpq's default, or `require`),
/// `pool_size` (connections per instance, default 16) and `schema` (default `public`).
public struct PostgresLocation: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var poolSize: Int
    /// Tables live in this schema; it also names the notification channel, so that stores in
    /// different schemas of one database do not hear each other.
    public var schema: String

    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public init(url text: String) throws {
        guard let url = URLComponents(string: text), url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw StoreError("the database URL must start with postgres:// (got \(text.prefix(16))…)")
        }
        guard let host = url.host, !host.isEmpty else { throw StoreError("the database URL has no host") }
        guard let username = url.user, !username.isEmpty else { throw StoreError("the database URL has no user name") }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw StoreError("the database URL names no database") }
        self.host = host
        self.port = url.port ?? 5432
        self.username = username.removingPercentEncoding ?? username
        self.password = url.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database
        var tls = TLSMode.prefer
        var poolSize = 16
        var schema = "public"
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value {
                case "disable": tls = .disable
                case "prefer", "allow": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw StoreError("sslmode must be disable, prefer or require")
                }
            case "pool_size":
                guard let size = item.value.flatMap(Int.init), (1...512).contains(size) else {
                    throw StoreError("pool_size must be a number from 1 to 512")
                }
                poolSize = size
            case "schema":
                guard let value = item.value, Self.isIdentifier(value) else {
                    throw StoreError("schema must be a lower-case SQL identifier")
                }
                schema = value
            default:
                throw StoreError("unknown database URL parameter \(item.name)")
            }
        }
        self.tls = tls
        self.poolSize = poolSize
        self.schema = schema
    }

    /// Lower-case letters, digits and underscores, not starting with a digit: safe to splice into SQL.
    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.utf8.first, !(48...57).contains(first), text.utf8.count <= 48 else { return false }
        return text.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
    }

    var clientTLS: PostgresClient.Configuration.TLS {
        switch tls {
        case .disable: return .disable
        case .prefer: return .prefer(.makeClientConfiguration())
        case .require: return .require(.makeClientConfiguration())
        }
    }

    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch tls {
        case .disable: return .disable
        case .prefer: return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    var clientConfiguration: PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
        configuration.options.maximumConnections = poolSize
        configuration.options.additionalStartupParameters = [("search_path", schema)]
        return configuration
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: try connectionTLS())
        configuration.options.additionalStartupParameters = [("search_path", schema)]
        return configuration
    }

    /// The URL without its password, for logs.
    public var redacted: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}
