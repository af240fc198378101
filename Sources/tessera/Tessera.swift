import ArgumentParser
import Foundation
import Logging
import TesseraCore
import TesseraServices
import TesseraMediaToken
import TesseraServer
import TesseraStore
import TesseraSQLite
import TesseraPostgres

@main
struct Tessera: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Self-hosted authentication and entitlement service speaking the Adobe Pass and Huawei dialects.",
        subcommands: [Serve.self, Migrate.self, ConfigCommand.self, HashPassword.self, VerifyMediaToken.self, Admin.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(name: .customLong("data-dir"), help: "Folder for the SQLite database and the credentials file.") var dataDir = "tessera-data"
    @Option(help: "YAML configuration of tenants and providers.") var config: String?
    @Flag(help: "Apply the demo tenant shipped with the program.") var demo = false
    @Option(name: .customLong("credentials-file"), help: "Where to write the credentials JSON (default: <data-dir>/credentials.json, or demo-credentials.json with --demo).")
    var credentialsFile: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"
    @Option(name: .customLong("log-format"), help: "text (one line of key=value pairs) or json (one JSON object a line).") var logFormat = "text"
    @Flag(name: .customLong("disable-throttling"), help: "Turn request throttling off (benchmarks, load tests).") var disableThrottling = false
    @Option(help: "postgres://user:password@host:port/database to share one PostgreSQL database between instances (default: TESSERA_DATABASE_URL, then the YAML's server.database, then SQLite in --data-dir).")
    var database: String?
    @Option(name: .customLong("request-head-timeout"), help: "Seconds from a request's first byte to the end of its head (default 10).")
    var requestHeadTimeout: Double = 10
    @Option(name: .customLong("request-body-timeout"), help: "Seconds from the end of a request's head to the end of its body (default 30).")
    var requestBodyTimeout: Double = 30
    @Option(name: .customLong("idle-timeout"), help: "Seconds a connection may stay open with no request under way (default 30).")
    var idleTimeout: Double = 30
    @Option(name: .customLong("max-connections"), help: "Open connections at most (default: the descriptor limit less a reserve of max(64, a tenth)).")
    var maxConnections: Int?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate (chain) to serve HTTPS with (default: the YAML's server.tls_cert; none: plain HTTP). Reloaded on SIGHUP.")
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert (default: the YAML's server.tls_key).")
    var tlsKey: String?

    func validate() throws {
        guard demo != (config != nil) else { throw ValidationError("give exactly one of --demo and --config FILE") }
        for (name, value) in [("--request-head-timeout", requestHeadTimeout), ("--request-body-timeout", requestBodyTimeout), ("--idle-timeout", idleTimeout)] {
            guard value > 0, value <= 3600 else { throw ValidationError("\(name) must be more than 0 and at most 3600 seconds") }
        }
        if let maxConnections { guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") } }
        guard (1...65535).contains(port) || port == 0 else { throw ValidationError("--port must be 0-65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard LineLogHandler.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format is text or json") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give --tls-cert and --tls-key together") }
    }

    func run() async throws {
        let format = LineLogHandler.Format(rawValue: logFormat) ?? .text
        LoggingSystem.bootstrap({ label, provider in LineLogHandler(label: label, format: format, metadataProvider: provider) },
                                metadataProvider: RequestIDs.metadataProvider)
        let yaml = try config.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? TesseraConfiguration.demoYAML()
        // Unknown keys do not stop a start (an older file may carry a key a newer Tessera dropped),
        // but each is said: a misspelt key is otherwise silently ignored.
        for problem in ConfigurationCheck.unknownKeys(yaml: yaml) { FileHandle.standardError.write(Data("warning: \(problem)\n".utf8)) }
        var configuration = try TesseraConfiguration.load(yaml: yaml)
        if disableThrottling { configuration.throttling = false }
        if let url = database ?? ProcessInfo.processInfo.environment["TESSERA_DATABASE_URL"] { configuration.databaseURL = url }
        if let token = ProcessInfo.processInfo.environment["TESSERA_ADMIN_TOKEN"] { try configuration.setAdminToken(token) }
        if let key = ProcessInfo.processInfo.environment["TESSERA_KEY_ENCRYPTION_KEY"] { configuration.keySealing = try KeySealing(encoded: key) }
        // The demo makes its own key-encryption key, kept in its data folder.
        var demoKeyPath: String?
        if demo, configuration.keySealing == nil {
            let made = try DemoKeyEncryptionKey.readOrMake(in: dataDir)
            configuration.keySealing = made.sealing
            demoKeyPath = made.path
        }
        // The demo makes its own admin token, written to the credentials file with the rest.
        var demoAdminToken: String?
        if demo, configuration.adminTokenDigest == nil {
            let token = Secret.generate()
            try configuration.setAdminToken(token)
            demoAdminToken = token
        }
        var options = ServerOptions(dataDirectory: dataDir, configuration: configuration)
        options.host = host
        options.port = port
        options.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        options.connectionLimits.headTimeout = .milliseconds(Int64(requestHeadTimeout * 1000))
        options.connectionLimits.bodyTimeout = .milliseconds(Int64(requestBodyTimeout * 1000))
        options.connectionLimits.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        options.connectionLimits.maximumConnections = maxConnections
        var reloader: (any DispatchSourceSignal)?
        if let certificate = tlsCert ?? configuration.tlsCertificatePath, let key = tlsKey ?? configuration.tlsKeyPath {
            let certificates = try TLSCertificates(certificatePath: certificate, keyPath: key)
            options.tls = certificates
            reloader = Self.reloadOnHangUp(certificates)
        }
        let (application, services, _) = try await TesseraServerBuilder.build(options)
        let baseURL = options.configuration.publicBaseURL ?? "\(options.tls == nil ? "http" : "https")://\(host):\(port)"
        let path = credentialsFile ?? (dataDir as NSString).appendingPathComponent(demo ? "demo-credentials.json" : "credentials.json")
        try await Credentials.make(services: services, baseURL: baseURL,
                                   metadataPrivateKey: demo ? Credentials.demoMetadataPrivateKey() : nil, demo: demo, adminToken: demoAdminToken).write(to: path)
        print("Tessera listens on \(baseURL); credentials written to \(path)")
        if let demoKeyPath { print("The private keys in the database are sealed under the key-encryption key in \(demoKeyPath)") }
        // Standard output into a pipe or file (systemd, a log file) is block-buffered: without this
        // the credentials' path appeared only when the server stopped.
        fflush(nil)
        try await application.runService()
        reloader?.cancel()
    }

    /// Reads the certificate and key again on every SIGHUP; a pair that does not load leaves the
    /// previous one in use.
    static func reloadOnHangUp(_ certificates: TLSCertificates) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP)
        let logger = Logger(label: "tessera")
        source.setEventHandler {
            do {
                try certificates.reload()
                logger.notice("TLS certificate and key reloaded", metadata: ["certificate": .string(certificates.certificatePath)])
            } catch {
                logger.error("TLS certificate and key not reloaded, the previous ones stay in use: \(error)")
            }
        }
        source.resume()
        return source
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the database schema and exit.",
        discussion: "Idempotent. Refuses a database whose schema is newer than this Tessera knows. `serve` migrates at start as well.")

    @OptionGroup var location: StoreLocationOptions

    func run() async throws {
        let (store, description) = try await location.open()
        await store.close()
        print("schema of \(description) is up to date")
    }
}

struct HashPassword: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password", abstract: "Read a password on standard input and print its password_hash for the YAML.")

    func run() throws {
        guard let password = readLine(strippingNewline: true), !password.isEmpty else { throw ValidationError("no password on standard input") }
        print(try PasswordHash(password: password).encoded)
    }
}

struct VerifyMediaToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-media-token",
        abstract: "Verify a media token offline; prints VALID_TOKEN, INVALID_TOKEN_FORMAT, INVALID_SIGNATURE, TOKEN_EXPIRED or INVALID_RESOURCE_ID.",
        discussion: "Exits 0 only for VALID_TOKEN. Give the keys as the JWKS Tessera publishes (GET /o/client/jwks) or an ES256 public key in PEM.")

    @Option(help: "A file holding Tessera's JWKS.") var jwks: String?
    @Option(name: .customLong("public-key"), help: "A file holding the ES256 public key in PEM.") var publicKey: String?
    @Option(help: "The resource the token must be for.") var resource: String?
    @Argument(help: "The serializedToken.") var token: String

    func validate() throws {
        guard (jwks == nil) != (publicKey == nil) else { throw ValidationError("give exactly one of --jwks and --public-key") }
    }

    func run() async throws {
        let verifier = if let jwks {
            try await MediaTokenVerifier(jwks: String(contentsOfFile: jwks, encoding: .utf8))
        } else {
            try await MediaTokenVerifier(publicKeyPEM: String(contentsOfFile: publicKey ?? "", encoding: .utf8))
        }
        let result = await verifier.verify(token, resource: resource)
        print(result.name)
        if case .valid(let claims) = result {
            print("requestor=\(claims.requestor) resource=\(claims.resource) mvpd=\(claims.mvpd) userId=\(claims.sub.value) expires=\(claims.exp.value.epochMilliseconds)")
        } else {
            throw ExitCode(1)
        }
    }
}
