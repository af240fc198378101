import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// SimpleSAMLphp 1.19 (Debian's package), a real SAML 2.0 identity provider, under PHP's built-in
/// server on a loopback port for one test: its own config (Debian's needs a secrets file), the
/// `exampleauth:UserPass` source with two households, a hosted IdP that signs responses and
/// assertions (RSA-SHA256) and offers SSO and SLO on both bindings, and Tessera's service-provider
/// metadata read from a file the test writes (``trust(serviceProviderMetadata:)``).
///
/// What it does that a test must know: its error pages answer 200 (read the page); its logout ends
/// whatever session the browser's cookie names, whatever the LogoutRequest's NameID.
final class SimpleSAMLphp: Sendable {
    static let www = "/usr/share/simplesamlphp/www"
    static let users: [(username: String, password: String, attributes: [String: [String]])] = [
        ("alice", "wonderland", ["uid": ["alice"], "eduPersonAffiliation": ["member", "premium"], "zip": ["10001"]]),
        ("bob", "builder", ["uid": ["bob"], "eduPersonAffiliation": ["member"]]),
    ]

    let directory: String
    let port: Int
    let process: ChildProcess
    var base: String { "http://127.0.0.1:\(port)" }
    var entityID: String { "\(base)/idp" }
    var metadataURL: String { "\(base)/saml2/idp/metadata.php" }
    /// Where an IdP-initiated Single Logout starts: every service provider of the browser's session hears of it.
    var logoutURL: String { "\(base)/saml2/idp/SingleLogoutService.php" }

    /// Whether this machine has SimpleSAMLphp and PHP (CI installs them; without them the test
    /// fails there and is skipped elsewhere).
    static var isInstalled: Bool {
        FileManager.default.fileExists(atPath: www + "/saml2/idp/SSOService.php") && FileManager.default.isExecutableFile(atPath: "/usr/bin/php")
    }

    private init(directory: String, port: Int, process: ChildProcess) {
        self.directory = directory
        self.port = port
        self.process = process
    }

    static func start() async throws -> SimpleSAMLphp {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("simplesamlphp-\(UUID())").path
        for sub in ["config", "metadata", "cert", "log", "tmp", "data"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        let port = try await Glewlwyd.freePort()
        _ = try await Glewlwyd.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/cert/idp.key",
                              "-out", directory + "/cert/idp.crt", "-subj", "/CN=simplesamlphp", "-days", "2"], input: nil)
        let base = "http://127.0.0.1:\(port)"
        try """
        <?php
        $config = [
            'baseurlpath' => '\(base)/',
            'certdir' => '\(directory)/cert/',
            'loggingdir' => '\(directory)/log/',
            'datadir' => '\(directory)/data/',
            'tempdir' => '\(directory)/tmp/',
            'metadatadir' => '\(directory)/metadata/',
            'metadata.sources' => [['type' => 'flatfile'], ['type' => 'xml', 'file' => '\(directory)/sp.xml']],
            'secretsalt' => '\(UUID().uuidString)',
            'auth.adminpassword' => '\(UUID().uuidString)',
            'technicalcontact_name' => 'Tessera tests',
            'technicalcontact_email' => 'tests@example.test',
            'timezone' => 'UTC',
            'enable.saml20-idp' => true,
            'session.cookie.secure' => false,
            'trusted.url.domains' => ['127.0.0.1:\(port)', 'localhost'],
            'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true],
            'logging.level' => SimpleSAML\\Logger::WARNING,
            'logging.handler' => 'file',
            'store.type' => 'phpsession',
            'language.default' => 'en',
        ];
        """.write(toFile: directory + "/config/config.php", atomically: true, encoding: .utf8)
        let users = Self.users.map { user in
            "'\(user.username):\(user.password)' => [" + user.attributes.sorted { $0.key < $1.key }.map { name, values in
                "'\(name)' => [" + values.map { "'\($0)'" }.joined(separator: ", ") + "]"
            }.joined(separator: ", ") + "],"
        }.joined(separator: "\n        ")
        try """
        <?php
        $config = [
            'admin' => ['core:AdminPassword'],
            'households' => [
                'exampleauth:UserPass',
                \(users)
            ],
        ];
        """.write(toFile: directory + "/config/authsources.php", atomically: true, encoding: .utf8)
        try """
        <?php
        $metadata['\(base)/idp'] = [
            'host' => '__DEFAULT__',
            'privatekey' => 'idp.key',
            'certificate' => 'idp.crt',
            'auth' => 'households',
            'SingleSignOnServiceBinding' => ['urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST'],
            'SingleLogoutServiceBinding' => ['urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST'],
            'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
            'saml20.sign.response' => true,
            'saml20.sign.assertion' => true,
            'validate.authnrequest' => true,
            'validate.logout' => true,
            'sign.logout' => true,
        ];
        """.write(toFile: directory + "/metadata/saml20-idp-hosted.php", atomically: true, encoding: .utf8)
        try "<?php\n".write(toFile: directory + "/metadata/saml20-sp-remote.php", atomically: true, encoding: .utf8)
        try "<?xml version=\"1.0\"?><EntitiesDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>"
            .write(toFile: directory + "/sp.xml", atomically: true, encoding: .utf8)

        // PHP's server answers one request at a time unless it has workers; they are its
        // children, in its process group.
        let process = try await ChildProcess.start("/usr/bin/php", ["-S", "127.0.0.1:\(port)", "-t", www],
                                                   environment: ["SIMPLESAMLPHP_CONFIG_DIR": directory + "/config", "PATH": "/usr/bin:/bin",
                                                                 "PHP_CLI_SERVER_WORKERS": "4"],
                                                   inherit: false, log: directory + "/php.log", ownGroup: true)
        let idp = SimpleSAMLphp(directory: directory, port: port, process: process)
        let agent = UserAgent()
        defer { agent.close() }
        for _ in 0..<100 {
            if (try? await agent.send(.GET, idp.metadataURL))?.status == .ok { return idp }
            try await Task.sleep(for: .milliseconds(50))
        }
        idp.stop()
        throw SimpleSAMLphpError(text: "SimpleSAMLphp did not start on \(port)")
    }

    /// Makes Tessera a service provider of this IdP: its metadata, as Tessera serves it.
    func trust(serviceProviderMetadata: String) throws {
        try serviceProviderMetadata.write(toFile: directory + "/sp.xml", atomically: true, encoding: .utf8)
    }

    /// The IdP's signing certificate (PEM) and key file.
    var certificatePEM: String { (try? String(contentsOfFile: directory + "/cert/idp.crt", encoding: .utf8)) ?? "" }

    /// Ends the server and its workers (its process group; its task reaps it) and removes its files.
    func stop() {
        process.sendToGroup(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Signs `user` in at the login page `page` (what an SSO request led to) and follows the IdP
    /// until it hands the browser its POST form; returns that page.
    func logIn(_ agent: UserAgent, page: UserAgent.Answer, username: String, password: String) async throws -> UserAgent.Answer {
        let authState = try #require(UserAgent.hidden("AuthState", in: page.body), "no login form: \(page.body.prefix(300))")
        let url = try #require(page.url)
        let posted = try await agent.send(.POST, url, form: [("username", username), ("password", password), ("AuthState", authState)])
        return try await agent.follow(posted)
    }

    struct SimpleSAMLphpError: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }
}

/// A user agent at an outside server (an identity provider): keeps its cookies, follows no
/// redirect unless asked, posts forms.
final class UserAgent: Sendable {
    private let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))
    private let cookies = Mutex<[String: String]>([:])

    func close() { try? http.syncShutdown() }

    struct Answer {
        let status: HTTPResponseStatus
        let location: String?
        let body: String
        /// The URL this answered.
        let url: String?
    }

    func send(_ method: HTTPMethod, _ url: String, form: [(String, String)]? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        let cookie = cookies.withLock { $0.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        if !cookie.isEmpty { request.headers.add(name: "Cookie", value: cookie) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
            let body = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")" }.joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        for value in response.headers["Set-Cookie"] {
            let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            let deleted = pair[1].isEmpty || pair[1] == "deleted"
            cookies.withLock { $0[String(pair[0])] = deleted ? nil : String(pair[1]) }
        }
        let body = try await response.body.collect(upTo: 4 << 20)
        var location = response.headers.first(name: "Location")
        if let relative = location, relative.hasPrefix("/"), let origin = URLComponents(string: url) {
            location = "\(origin.scheme ?? "http")://\(origin.host ?? "")\(origin.port.map { ":\($0)" } ?? "")" + relative
        }
        return Answer(status: response.status, location: location, body: String(buffer: body), url: url)
    }

    /// Follows redirects from `answer` while they stay on the same host and port.
    func follow(_ answer: Answer) async throws -> Answer {
        var current = answer
        for _ in 0..<10 {
            guard [.found, .seeOther, .movedPermanently, .temporaryRedirect].contains(current.status), let next = current.location,
                  let from = current.url.flatMap(URLComponents.init(string:)), let to = URLComponents(string: next),
                  to.host == from.host, to.port == from.port
            else { return current }
            current = try await send(.GET, next)
        }
        return current
    }

    /// The hidden field `name` of a page (SimpleSAMLphp writes `<input type="hidden" name="…" value="…" />`).
    static func hidden(_ name: String, in html: String) -> String? {
        for match in html.matches(of: /<input[^>]*type="hidden"[^>]*>/) {
            let tag = String(match.0)
            guard tag.contains("name=\"\(name)\""), let value = tag.firstMatch(of: /value="([^"]*)"/)?.1 else { continue }
            return String(value).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#039;", with: "'")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        }
        return nil
    }

    /// The action of a page's first POST form.
    static func formAction(in html: String) -> String? {
        if let match = html.firstMatch(of: /<form[^>]*method="post"[^>]*action="([^"]*)"/) { return String(match.1) }
        return html.firstMatch(of: /<form[^>]*action="([^"]*)"[^>]*method="post"/).map { String($0.1) }
    }
}
