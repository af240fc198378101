import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `tessera admin …`: the operator's verbs, over a running Tessera's admin API (`rotate-kek`
/// alone works on the database directly).
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operate a running Tessera through its admin API, or change its key-encryption key.",
        subcommands: [AdminSessions.self, AdminClients.self, AdminKeys.self, AdminDegradation.self, RotateKeyEncryptionKey.self])
}

/// Where the admin API is and the token it takes.
struct AdminConnection: ParsableArguments {
    @Option(help: "The Tessera to talk to.") var url = "http://127.0.0.1:8080"
    @Option(name: .customLong("token-file"), help: "A file holding the admin token (default: TESSERA_ADMIN_TOKEN).")
    var tokenFile: String?

    func token() throws -> String {
        if let tokenFile {
            return try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token = ProcessInfo.processInfo.environment["TESSERA_ADMIN_TOKEN"], !token.isEmpty else {
            throw ValidationError("give --token-file FILE or set TESSERA_ADMIN_TOKEN")
        }
        return token
    }

    /// Sends the request; prints the JSON answer; fails unless it is a 2xx.
    func send(_ method: String, _ path: String, json body: [String: String]? = nil) async throws {
        guard let url = URL(string: url.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path) else {
            throw ValidationError("--url is not a URL")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer \(try token())", forHTTPHeaderField: "Authorization")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONEncoder().encode(body)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if !data.isEmpty { print(String(decoding: data, as: UTF8.self)) }
        guard (200..<300).contains(status) else {
            FileHandle.standardError.write(Data("tessera answered \(status)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

struct AdminSessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions", abstract: "A subscriber's sessions in a tenant: list them, or sign the subscriber out everywhere.",
        subcommands: [List.self, Revoke.self])

    struct Target: ParsableArguments {
        @Option(help: "The tenant (requestor).") var tenant: String
        @Option(help: "The subscriber's user id.") var subject: String

        var path: String { "/admin/v1/tenants/\(AdminConnection.component(tenant))/subjects/\(AdminConnection.component(subject))/sessions" }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the subscriber's sessions (device, provider, kind, created, last used).")
        @OptionGroup var connection: AdminConnection
        @OptionGroup var target: Target

        func run() async throws { try await connection.send("GET", target.path) }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign the subscriber out everywhere in the tenant.")
        @OptionGroup var connection: AdminConnection
        @OptionGroup var target: Target

        func run() async throws { try await connection.send("DELETE", target.path) }
    }
}

struct AdminClients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients", abstract: "Registered (DCR) clients.", subcommands: [Revoke.self])

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a client: its bearers are refused on every instance.")
        @OptionGroup var connection: AdminConnection
        @Option(help: "The tenant (requestor).") var tenant: String
        @Option(help: "The client id.") var client: String

        func run() async throws {
            try await connection.send("DELETE", "/admin/v1/tenants/\(AdminConnection.component(tenant))/clients/\(AdminConnection.component(client))")
        }
    }
}

struct AdminKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "The RSA key pairs of user-session (OneAccess SDK) applications.", subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give an application a new key pair; the previous one still decrypts for the tenant's key_grace_period.")
        @OptionGroup var connection: AdminConnection
        @Option(help: "The tenant (requestor).") var tenant: String
        @Option(help: "The application's client id.") var client: String

        func run() async throws {
            try await connection.send("POST", "/admin/v1/tenants/\(AdminConnection.component(tenant))/applications/\(AdminConnection.component(client))/keys")
        }
    }
}

struct AdminDegradation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "degradation",
        abstract: "Degrade a provider of a tenant while it is down: AuthNAll signs devices in without it, AuthZAll permits and AuthZNone denies every decision.",
        subcommands: [List.self, Set.self, Clear.self])

    struct Target: ParsableArguments {
        @Option(help: "The tenant (requestor).") var tenant: String
        @Option(help: "The provider (MVPD).") var provider: String

        var path: String { "/admin/v1/tenants/\(AdminConnection.component(tenant))/degradation/\(AdminConnection.component(provider))" }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The tenant's rules, from the configuration file and set here.")
        @OptionGroup var connection: AdminConnection
        @Option(help: "The tenant (requestor).") var tenant: String

        func run() async throws { try await connection.send("GET", "/admin/v1/tenants/\(AdminConnection.component(tenant))/degradation") }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a rule (AuthZAll and AuthZNone replace each other).")
        @OptionGroup var connection: AdminConnection
        @OptionGroup var target: Target
        @Option(help: "AuthNAll, AuthZAll or AuthZNone.") var rule: String
        @Option(help: "Text the apps are given in the answers' details.") var details: String?

        func run() async throws {
            var body = ["rule": rule]
            if let details { body["details"] = details }
            try await connection.send("PUT", target.path, json: body)
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clear the rules set here for a provider (all, or the one named).")
        @OptionGroup var connection: AdminConnection
        @OptionGroup var target: Target
        @Option(help: "Clear only this rule.") var rule: String?

        func run() async throws {
            try await connection.send("DELETE", target.path + (rule.map { "?rule=\(AdminConnection.component($0))" } ?? ""))
        }
    }
}
