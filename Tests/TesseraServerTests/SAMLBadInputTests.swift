import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices
@testable import TesseraStore

/// Every Response and LogoutRequest a SAML provider's endpoints must refuse, made by a real XML
/// signature library (Python's signxml, Tests/clients/saml_idp.py) for the AuthnRequest Tessera
/// really sent: each is the pages' error, stores nothing, and leaves the attempt usable; a
/// Response is taken once; a LogoutRequest ends nothing unless it is signed by the provider.
@Suite(.serialized) struct SAMLBadInputTests {
    static let providerID = "Cable"
    static let issuer = "https://idp.cable.test/saml"
    static let destination = "https://idp.cable.test/sso"
    static func available() async -> Bool { await RestV2PartnerSSOTests.available() }

    /// The provider's key and certificate, and its metadata file naming them.
    struct IdentityProvider {
        let directory: String
        var key: String { directory + "/key.pem" }
        var certificate: String { directory + "/cert.pem" }
        var metadata: String { directory + "/metadata.xml" }

        init() async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("saml-idp-\(UUID())").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = try await Glewlwyd.keyPair(in: directory)
            let body = try String(contentsOfFile: directory + "/cert.pem", encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            try """
            <?xml version="1.0"?>
            <md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="\(SAMLBadInputTests.issuer)">
              <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
                <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\(body)</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
                <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.cable.test/slo"/>
                <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="\(SAMLBadInputTests.destination)"/>
              </md:IDPSSODescriptor>
            </md:EntityDescriptor>
            """.write(toFile: directory + "/metadata.xml", atomically: true, encoding: .utf8)
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }

        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/saml_idp.py").path

        /// A Response (`mode`) to the AuthnRequest `samlRequest`.
        func response(_ mode: String, to samlRequest: String) async throws -> String {
            try await Glewlwyd.run(["python3", Self.script, "response", mode, key, certificate, samlRequest, SAMLBadInputTests.issuer], input: nil)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// A LogoutRequest (`mode`) for the test household's NameID and SessionIndex.
        func logoutRequest(_ mode: String, sessionIndex: String = "idx-1") async throws -> String {
            try await Glewlwyd.run(["python3", Self.script, "logout", mode, key, certificate, "http://localhost/idp/\(SAMLBadInputTests.providerID)/saml/slo",
                              SAMLBadInputTests.issuer, "household-1", sessionIndex], input: nil)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    static func running(_ body: @Sendable (Wire, IdentityProvider) async throws -> Void) async throws {
        let idp = try await IdentityProvider()
        defer { idp.remove() }
        let provider = SAMLProvider(id: providerID, displayName: "Cable TV", metadata: .file(idp.metadata),
                                    claims: ClaimMapping(userID: "uid", rules: [EntitlementRule(claim: "eduPersonAffiliation", value: "premium", grant: ["REF30"])]))
        var configuration = try Fixture.configuration(adding: [provider])
        configuration.publicBaseURL = Browser.origin
        try await Harness(configuration: configuration, start: Date()).run { wire in try await body(wire, idp) }
    }

    /// A device's attempt, taken to the point where the browser is sent to the provider: the
    /// browser, the attempt's state and the AuthnRequest as sent.
    static func attempt(_ wire: Wire, deviceID: String) async throws -> (browser: Browser, state: String, request: String, auth: HTTPFields) {
        let auth = wire.deviceHeaders(try await wire.bearer())
        let code = try await wire.registrationCode(auth, deviceID: deviceID)
        let browser = Browser(wire)
        let first = try await browser.get(wire.authenticateURI(code: code, provider: providerID))
        let toProvider = try await browser.get(try #require(first.header("Location")))
        try #require(toProvider.status == .found, "\(toProvider.status) \(toProvider.body)")
        let sent = try #require(toProvider.header("Location"))
        let location = try #require(URLComponents(string: sent))
        #expect(location.host == "idp.cable.test" && location.path == "/sso")
        func item(_ name: String) -> String? { location.queryItems?.first { $0.name == name }?.value }
        #expect(item("SigAlg") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" && item("Signature") != nil)
        return (browser, try #require(item("RelayState")), try #require(item("SAMLRequest")), auth)
    }

    static let badResponses = ["unsigned", "altered", "wrapped", "moved-signature", "other-key", "expired", "not-yet", "wrong-audience",
                               "wrong-recipient", "other-request", "denied"]

    @Test func everyBadResponseIsRefusedAndStoresNothingThenAGoodOneIsTakenOnce() async throws {
        guard await Self.available() else { return }
        try await Self.running { wire, idp in
            let (browser, state, request, auth) = try await Self.attempt(wire, deviceID: "saml-bad-1")
            for mode in Self.badResponses {
                let answer = try await browser.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", try await idp.response(mode, to: request)), ("RelayState", state)])
                #expect(answer.status == .forbidden, "\(mode): \(answer.status)")
                #expect(answer.body.contains(mode == "denied" ? "did not sign you in" : "could not be accepted"), "\(mode): \(answer.body)")
                #expect(!answer.body.contains("decision"), "\(mode) reached the confirmation")
            }
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-bad-1"), headers: auth).status == .forbidden)
            // Not base64, not XML, a DTD, another document: refused the same way.
            for garbage in ["%%%", Data("not xml".utf8).base64EncodedString(),
                            Data(#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>"#.utf8).base64EncodedString(),
                            Data(#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"/>"#.utf8).base64EncodedString()] {
                let answer = try await browser.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", garbage), ("RelayState", state)])
                #expect(answer.status == .forbidden, "\(garbage): \(answer.status)")
            }
            // Another browser (another cookie) cannot use this attempt's Response.
            let good = try await idp.response("good", to: request)
            let stranger = Browser(wire)
            let foreign = try await stranger.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", good), ("RelayState", state), ("resubmitted", "1")])
            #expect(foreign.status == .forbidden)
            stranger.setCookie(BrowserForms.cookieName, "someone-elses-browser")
            #expect(try await stranger.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", good), ("RelayState", state)]).status == .forbidden)

            // The good one, then again: the second is a replay.
            let confirm = try await browser.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", good), ("RelayState", state)])
            try #require(confirm.status == .ok, "\(confirm.body)")
            let replay = try await browser.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", good), ("RelayState", state)])
            #expect(replay.status == .forbidden && replay.body.contains("could not be accepted"))
            let done = try await browser.submit(confirm, [("decision", "confirm")])
            #expect(done.status == .seeOther)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-bad-1"), headers: auth).status == .ok)
            let permit = try await wire.send(.get, "/api/v1/authorize" + wire.deviceQuery("saml-bad-1", extra: [("resource", "REF30")]), headers: auth)
            #expect(permit.status == .ok, "\(permit.body)")
        }
    }

    @Test func aResponseWithoutTheBrowserCookieIsPostedAgainFromTesserasOwnPage() async throws {
        guard await Self.available() else { return }
        try await Self.running { wire, idp in
            let (browser, state, request, _) = try await Self.attempt(wire, deviceID: "saml-cookie-1")
            let cookie = try #require(browser.cookies[BrowserForms.cookieName])
            // A cross-site POST: the SameSite=Lax cookie stays behind; Tessera's page posts it again.
            browser.setCookie(BrowserForms.cookieName, nil)
            let response = try await idp.response("good", to: request)
            let page = try await browser.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", response), ("RelayState", state)])
            #expect(page.status == .ok && page.body.contains("name=\"resubmitted\""))
            browser.setCookie(BrowserForms.cookieName, cookie)
            let confirm = try await browser.submit(page, [])
            #expect(confirm.status == .ok && confirm.body.contains("decision"), "\(confirm.body)")
        }
    }

    @Test func onlyASignedLogoutRequestFromTheProviderEndsSessions() async throws {
        guard await Self.available() else { return }
        try await Self.running { wire, idp in
            let (browser, state, request, auth) = try await Self.attempt(wire, deviceID: "saml-slo-1")
            let confirm = try await browser.post("/idp/\(Self.providerID)/saml/acs", [("SAMLResponse", try await idp.response("good", to: request)), ("RelayState", state)])
            #expect(try await browser.submit(confirm, [("decision", "confirm")]).status == .seeOther)
            func signedIn() async throws -> Bool {
                try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("saml-slo-1"), headers: auth).status == .ok
            }
            #expect(try await signedIn())
            let slo = "/idp/\(Self.providerID)/saml/slo"
            for mode in ["unsigned", "other-key", "altered"] {
                let answer = try await Browser(wire).post(slo, [("SAMLRequest", try await idp.logoutRequest(mode)), ("RelayState", "r1")])
                #expect(answer.status == .forbidden, "\(mode): \(answer.status)")
                #expect(try await signedIn(), "\(mode) ended the session")
            }
            // The HTTP-Redirect binding without a signature; with one the provider did not make.
            let unsigned = "SAMLRequest=" + SAMLServiceProvider.encoded(try await idp.logoutRequest("good"))
            #expect(try await Browser(wire).get(slo + "?" + unsigned).status == .forbidden)
            let forged = unsigned + "&SigAlg=" + SAMLServiceProvider.encoded(SAMLServiceProvider.rsaSHA256) + "&Signature=" + SAMLServiceProvider.encoded(Data(repeating: 7, count: 256).base64EncodedString())
            #expect(try await Browser(wire).get(slo + "?" + forged).status == .forbidden)
            #expect(try await Browser(wire).get(slo).status == .forbidden)
            #expect(try await signedIn())
            // Signed by the provider, for another SessionIndex: nothing of this household's ends.
            let other = try await Browser(wire).post(slo, [("SAMLRequest", try await idp.logoutRequest("good", sessionIndex: "idx-9")), ("RelayState", "r2")])
            #expect(other.status == .found)
            #expect(try await signedIn())
            // Signed, for this session: it ends, and the answer goes to the provider with the RelayState.
            let good = try await Browser(wire).post(slo, [("SAMLRequest", try await idp.logoutRequest("good")), ("RelayState", "r3")])
            let location = try #require(good.header("Location"))
            #expect(good.status == .found && location.hasPrefix("https://idp.cable.test/slo?SAMLResponse=") && location.contains("&RelayState=r3&SigAlg="))
            #expect(try await signedIn() == false)
        }
    }

    /// Each bad Response fails at its own check, not at some other one.
    @Test(arguments: [
        ("unsigned", "the assertion is not signed"), ("altered", "the signature does not verify"),
        ("wrapped", "exactly one assertion"), ("moved-signature", "exactly one assertion"),
        ("other-key", "the signature does not verify"), ("expired", "expired"), ("not-yet", "not valid yet"),
        ("wrong-audience", "another audience"), ("wrong-recipient", "another recipient"), ("other-request", "another sign-in"),
    ])
    func eachBadResponseFailsItsOwnCheck(mode: String, reason: String) async throws {
        guard await Self.available() else { return }
        let idp = try await IdentityProvider()
        defer { idp.remove() }
        let clock = ManualClock(Date())
        let saml = SAMLServiceProvider(clock: clock, openID: OpenIDConnect(clock: clock),
                                       privateKeyPEM: try String(contentsOfFile: idp.key, encoding: .utf8))
        let metadata = try SAMLServiceProvider.metadata(from: try Data(contentsOf: URL(fileURLWithPath: idp.metadata)), entityID: nil)
        let acs = "http://localhost/idp/Cable/saml/acs", audience = "http://localhost/idp/Cable/saml/metadata"
        let url = try saml.signOnURL(metadata: metadata, requestID: "_request-1", issuer: audience, assertionConsumerURL: acs, nameIDFormat: nil, relayState: "s")
        let request = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "SAMLRequest" }?.value)
        let good = try saml.verify(response: try await idp.response("good", to: request), metadata: metadata, audience: audience,
                                   assertionConsumerURL: acs, requestID: "_request-1")
        #expect(good.subject.nameID == "household-1" && good.subject.sessionIndex == "idx-1")
        #expect(good.attributes["eduPersonAffiliation"] == .list(["member", "premium"]) && good.attributes["uid"] == .string("household-1"))
        let bad = try await idp.response(mode, to: request)
        let outcome = Result { () throws(TesseraError) in
            try saml.verify(response: bad, metadata: metadata, audience: audience, assertionConsumerURL: acs, requestID: "_request-1")
        }
        guard case .failure(.upstreamLogin(.invalidResponse(let why))) = outcome else {
            Issue.record("\(mode): \(outcome)")
            return
        }
        #expect(why.contains(reason), "\(mode): \(why)")
    }

    /// A key rollover: the IdP publishes its new certificate beside the old one, Tessera takes it
    /// at the next refresh of the metadata, and keeps what it had while the metadata cannot be read.
    @Test func theMetadataIsReadAgainAndEveryCertificateItListsIsTrusted() async throws {
        guard await Self.available() else { return }
        let idp = try await IdentityProvider()
        defer { idp.remove() }
        let signing = try String(contentsOfFile: idp.metadata, encoding: .utf8)
        let newBody = try String(contentsOfFile: idp.certificate, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        // Before the rollover the metadata lists only an older key's certificate.
        let older = idp.directory + "/older"
        try FileManager.default.createDirectory(atPath: older, withIntermediateDirectories: true)
        _ = try await Glewlwyd.keyPair(in: older)
        let oldBody = try String(contentsOfFile: older + "/cert.pem", encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        try signing.replacingOccurrences(of: newBody, with: oldBody).write(toFile: idp.metadata, atomically: true, encoding: .utf8)

        let clock = ManualClock(Date())
        let saml = SAMLServiceProvider(clock: clock, openID: OpenIDConnect(clock: clock), privateKeyPEM: try String(contentsOfFile: idp.key, encoding: .utf8))
        var provider = SAMLProvider(id: "Cable", displayName: "Cable", metadata: .file(idp.metadata))
        provider.metadataRefresh = 60
        let acs = "http://localhost/idp/Cable/saml/acs", audience = "http://localhost/idp/Cable/saml/metadata"
        func verify() async throws -> Bool {
            let metadata = try await saml.metadata(of: provider)
            let url = try saml.signOnURL(metadata: metadata, requestID: "_r", issuer: audience, assertionConsumerURL: acs, nameIDFormat: nil, relayState: "s")
            let request = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "SAMLRequest" }?.value)
            do {
                _ = try saml.verify(response: try await idp.response("good", to: request), metadata: metadata, audience: audience, assertionConsumerURL: acs, requestID: "_r")
                return true
            } catch { return false }
        }
        #expect(try await verify() == false)
        // Both certificates published; read again only when the refresh is due.
        let both = signing.replacingOccurrences(of: "<md:KeyDescriptor use=\"signing\">", with:
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\(oldBody)</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor>")
        try both.write(toFile: idp.metadata, atomically: true, encoding: .utf8)
        #expect(try await verify() == false)
        clock.advance(by: 61)
        #expect(try await saml.metadata(of: provider).certificates.count == 2)
        #expect(try await verify())
        // The metadata gone: what was read stays.
        try FileManager.default.removeItem(atPath: idp.metadata)
        clock.advance(by: 61)
        #expect(try await verify())
    }
}
