import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// Clientless v1 as the clients TV add-ons ship send it: the legacy signed `Authorization`
/// header, `Accept: */*`, parameters written by Python's `urllib.parse.urlencode` (a space is
/// `+`), MRSS with its titles in CDATA, and no `requestor` where the credential names it.
@Suite struct RealClientTests {
    /// What `urllib.parse.urlencode` writes (`quote_plus`): unreserved characters as they are,
    /// a space as `+`, everything else percent-encoded.
    static func urlencode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "_.-~ ")
        return fields.map { name, value in
            name + "=" + value.addingPercentEncoding(withAllowedCharacters: allowed)!.replacingOccurrences(of: " ", with: "+")
        }.joined(separator: "&")
    }

    /// The legacy header such a client computes, with a fresh nonce each time.
    struct Signer: Sendable {
        let clock: ManualClock
        var requestor = "REF30"
        var privateKey = "ref30-demo-private-key-not-secret"
        var publicKey = "ref30-demo-public-key"

        func headers(_ method: String, _ uri: String) -> HTTPFields {
            let signed = "\(method) requestor_id=\(requestor), nonce=\(UUID().uuidString.lowercased()), signature_method=HMAC-SHA1, "
                + "request_time=\(clock.now().epochMilliseconds), request_uri=\(uri)"
            let signature = LegacySignature.sign(signed, key: privateKey)
            return [.authorization: "\(signed), public_key=\(publicKey), signature=\(signature)", .accept: "*/*", .userAgent: "Kodi/21.0"]
        }
    }

    static let xmlHeader = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
    static let mrss = #"<channel><title><![CDATA[REF30]]></title><item><title><![CDATA[Live]]></title><guid>live-1</guid>"#
        + #"<media:rating scheme="urn:v-chip">tv-14</media:rating></item></channel>"#

    /// A device whose id has spaces signs in through the whole flow without ever naming the
    /// requestor outside the signed header, then logs out with `DELETE /api/v1/logout?deviceId=…`.
    @Test func theWholeFlowAsAnAddOnSendsIt() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let signer = Signer(clock: wire.clock)
            let device = "living room tv"
            var create = signer.headers("POST", "/regcode")
            create[.contentType] = "application/x-www-form-urlencoded"
            let regcode = try await wire.send(.post, "/reggie/v1/REF30/regcode", headers: create,
                                              body: Self.urlencode([("deviceId", device), ("deviceType", "Kodi"), ("ttl", "1800")]))
            try #require(regcode.status == .created, "\(regcode.body)")
            #expect(regcode.header("Content-Type") == "application/xml;charset=UTF-8")
            let code = try #require(regcode.body.firstMatch(of: /<code>([A-Z0-9]+)<\/code>/)?.1).description
            // The record carries the device id base64-encoded, as Adobe's does.
            #expect(regcode.body.contains("<deviceId>\(Data(device.utf8).base64EncodedString())</deviceId>"))

            // Authenticate by code on the second screen; the device then asks for its authN token
            // by code (`GET /api/v1/authenticate/{code}`), again without a requestor.
            try await wire.browserLogin(code: code)
            let byCode = try await wire.send(.get, "/api/v1/authenticate/\(code)", headers: signer.headers("GET", "/authenticate/\(code)"))
            #expect(byCode.status == .ok, "\(byCode.body)")
            #expect(byCode.body.contains("<userId>cv-user-full</userId>"))

            let q = "?" + Self.urlencode([("deviceId", device)])
            let authn = try await wire.send(.get, "/api/v1/tokens/authn" + q, headers: signer.headers("GET", "/tokens/authn"))
            #expect(authn.status == .ok)
            let expires = Fixture.start.addingTimeInterval(604_800).epochMilliseconds
            #expect(authn.body == Self.xmlHeader + "<authentication><expires>\(expires)</expires><userId>cv-user-full</userId>"
                + "<mvpd>Cablevision</mvpd><requestor>REF30</requestor></authentication>")

            let resource = "?" + Self.urlencode([("deviceId", device), ("resource", Self.mrss)])
            #expect(resource.contains("+"))
            let authorize = try await wire.send(.get, "/api/v1/authorize" + resource, headers: signer.headers("GET", "/authorize"))
            #expect(authorize.status == .ok, "\(authorize.body)")
            let decisionExpires = Fixture.start.addingTimeInterval(86_400).epochMilliseconds
            #expect(authorize.body == Self.xmlHeader + "<authorization><expires>\(decisionExpires)</expires><mvpd>Cablevision</mvpd>"
                + "<requestor>REF30</requestor><resource>\(Self.mrss.xmlEscaped)</resource></authorization>")

            let media = try await wire.send(.get, "/api/v1/mediatoken" + resource, headers: signer.headers("GET", "/mediatoken"))
            #expect(media.status == .ok, "\(media.body)")
            #expect(media.body.contains("<serializedToken>"))
            #expect(media.body.contains("<requestor>REF30</requestor>"))

            let metadata = try await wire.send(.get, "/api/v1/tokens/usermetadata" + q, headers: signer.headers("GET", "/tokens/usermetadata"))
            #expect(metadata.status == .ok, "\(metadata.body)")
            #expect(metadata.body.contains("<updated>"))

            #expect(try await harness.count("session") == 1)
            let logout = try await wire.send(.delete, "/api/v1/logout" + q, headers: signer.headers("DELETE", "/logout"))
            #expect(logout.status == .noContent)
            #expect(logout.body.isEmpty)
            let after = try await wire.send(.get, "/api/v1/tokens/authn" + q, headers: signer.headers("GET", "/tokens/authn"))
            #expect(after.status == .notFound)
            #expect(after.body.contains("<code>authentication_session_missing</code>"))
        }
        #expect(try await harness.count("session") == 0)
        #expect(try await harness.count("decision") == 0)
    }

    enum Encoding: String, CaseIterable, Sendable {
        case formBody, queryPlus, queryPercent20
    }

    /// The device id a registration record (JSON) names, decoded from its base64.
    static func deviceID(of record: Reply) -> String? {
        ((record.json["info"] as? [String: Any])?["deviceId"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    /// How each encoding sends `deviceId=q plus` to `path` with `method` (a form body only with
    /// POST and DELETE, the methods whose bodies v1 reads).
    static func request(_ encoding: Encoding, _ method: HTTPRequest.Method, _ path: String, wire: Wire, auth: HTTPFields) async throws -> Reply {
        switch encoding {
        case .formBody:
            var headers = auth
            headers[.contentType] = "application/x-www-form-urlencoded"
            return try await wire.send(method, path + "?requestor=REF30", headers: headers, body: "deviceId=q+plus")
        case .queryPlus:
            return try await wire.send(method, path + "?requestor=REF30&deviceId=q+plus", headers: auth)
        case .queryPercent20:
            return try await wire.send(method, path + "?requestor=REF30&deviceId=q%20plus", headers: auth)
        }
    }

    /// `q plus` is one device however a client writes the space, and any of those logs it out;
    /// `q%2Bplus` is another device (a literal plus) and stays signed in.
    @Test(arguments: Encoding.allCases)
    func aSpaceInADeviceIDIsOneDeviceHoweverItIsWritten(logoutBy: Encoding) async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = wire.deviceHeaders(try await wire.bearer())
            var form = auth
            form[.contentType] = "application/x-www-form-urlencoded"
            let created = try await wire.send(.post, "/reggie/v1/REF30/regcode", headers: form, body: "deviceId=q+plus")
            try #require(created.status == .created)
            #expect(Self.deviceID(of: created) == "q plus")
            try await wire.browserLogin(code: try #require(created.json["code"] as? String))
            let literal = try await wire.send(.post, "/reggie/v1/REF30/regcode", headers: form, body: "deviceId=q%2Bplus")
            #expect(Self.deviceID(of: literal) == "q+plus")
            try await wire.browserLogin(code: try #require(literal.json["code"] as? String), username: "cv-basic", password: "cv-basic-demo")

            for encoding in [Encoding.queryPlus, .queryPercent20] {
                let check = try await Self.request(encoding, .get, "/api/v1/tokens/authn", wire: wire, auth: auth)
                #expect(check.status == .ok, "\(encoding)")
                #expect(check.json["userId"] as? String == "cv-user-full", "\(encoding)")
            }
            let plus = try await wire.send(.get, "/api/v1/tokens/authn?requestor=REF30&deviceId=q%2Bplus", headers: auth)
            #expect(plus.json["userId"] as? String == "cv-user-basic")

            let logout = try await Self.request(logoutBy, .delete, "/api/v1/logout", wire: wire, auth: auth)
            #expect(logout.status == .noContent)
            for encoding in [Encoding.queryPlus, .queryPercent20] {
                let check = try await Self.request(encoding, .get, "/api/v1/tokens/authn", wire: wire, auth: auth)
                #expect(check.status == .notFound, "\(encoding) after logout by \(logoutBy)")
            }
            let stillPlus = try await wire.send(.get, "/api/v1/checkauthn?requestor=REF30&deviceId=q%2Bplus", headers: auth)
            #expect(stillPlus.status == .ok)
        }
        #expect(try await harness.count("session") == 1)
    }

    /// A base64 `device_info` in the query keeps its `+` whichever way the client sends it:
    /// percent-encoded (the safe way), or raw, where form decoding makes it a space.
    @Test func aBase64DeviceInfoInTheQuerySurvivesARawPlus() async throws {
        // This JSON's standard base64 has a `+` in it.
        let info = Data(#"{"model":"Roku Ultra>","osName":"Roku OS"}"#.utf8).base64EncodedString()
        try #require(info.contains("+"))
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.bearer()
            for (name, value) in [("raw", info), ("encoded", info.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)] {
                let reply = try await wire.send(.get, "/api/v1/checkauthn?requestor=REF30&deviceId=d1&device_info=\(value)", headers: auth)
                #expect(reply.status == .forbidden, "\(name): \(reply.body)") // not signed in, but the device info was read
                #expect(!reply.body.contains("invalid_device_info"), "\(name)")
            }
        }
    }

    @Test func aSignedHeaderForOneRequestorAndAParameterNamingAnotherIsRefused() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let signer = Signer(clock: wire.clock)
            var headers = signer.headers("GET", "/checkauthn")
            headers[.accept] = "application/json"
            let reply = try await wire.send(.get, "/api/v1/checkauthn?requestor=OTHER40&deviceId=d1", headers: headers)
            #expect(reply.status == .unauthorized)
            #expect(reply.json["code"] as? String == "invalid_access_token_service_provider")
            // The other tenant's own key, with the header naming REF30: refused the same way.
            var other = Signer(clock: wire.clock)
            other.privateKey = "other-private"
            other.publicKey = "other-public"
            var otherHeaders = other.headers("GET", "/checkauthn")
            otherHeaders[.accept] = "application/json"
            let crossed = try await wire.send(.get, "/api/v1/checkauthn?requestor=OTHER40&deviceId=d1", headers: otherHeaders)
            #expect(crossed.status == .unauthorized)
        }
    }

    @Test func aBearerWithNoRequestorIsForItsOwnTenant() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            // The same device id signed in at REF30 only.
            let ref30 = try await wire.signedIn(deviceID: "shared-id")
            let other = wire.deviceHeaders(try await wire.bearer(tenant: "OTHER40"))
            let mine = try await wire.send(.get, "/api/v1/checkauthn?deviceId=shared-id", headers: ref30)
            #expect(mine.status == .ok)
            let theirs = try await wire.send(.get, "/api/v1/checkauthn?deviceId=shared-id", headers: other)
            #expect(theirs.status == .forbidden)
            #expect(theirs.json["code"] as? String == "authentication_session_missing")
            // OTHER40's logout without requestor ends nothing at REF30.
            #expect(try await wire.send(.delete, "/api/v1/logout?deviceId=shared-id", headers: other).status == .noContent)
            #expect(try await wire.send(.get, "/api/v1/checkauthn?deviceId=shared-id", headers: ref30).status == .ok)
            // A bearer of REF30 with a requestor of OTHER40: refused, as before.
            let crossed = try await wire.send(.get, "/api/v1/checkauthn?requestor=OTHER40&deviceId=shared-id", headers: ref30)
            #expect(crossed.status == .unauthorized)
            #expect(crossed.json["code"] as? String == "invalid_access_token_service_provider")
            // A forged bearer naming REF30 with no requestor: refused as a bad token.
            let payload = Data(#"{"requestor":"REF30"}"#.utf8).base64URLEncoded()
            var forged = ref30
            forged[.authorization] = "Bearer eyJhbGciOiJSUzI1NiJ9.\(payload).c2ln"
            let refused = try await wire.send(.get, "/api/v1/checkauthn?deviceId=shared-id", headers: forged)
            #expect(refused.status == .unauthorized)
            #expect(refused.json["code"] as? String == "invalid_access_token_client_application")
        }
        #expect(try await harness.count("session") == 1)
    }

    @Test func noRequestorAndNoCredentialIsStill400() async throws {
        let harness = try Harness()
        try await harness.run { wire in
            for (method, path) in [(HTTPRequest.Method.delete, "/api/v1/logout"), (.get, "/api/v1/checkauthn"), (.get, "/api/v1/tokens/authn")] {
                let reply = try await wire.send(method, path + "?deviceId=d1", headers: [.accept: "application/json"])
                #expect(reply.status == .badRequest, "\(path)")
                #expect(reply.json["code"] as? String == "invalid_requestor", "\(path)")
            }
            // A signed header naming a requestor Tessera does not know.
            var signer = Signer(clock: wire.clock)
            signer.requestor = "NOSUCH"
            var headers = signer.headers("GET", "/checkauthn")
            headers[.accept] = "application/json"
            let unknown = try await wire.send(.get, "/api/v1/checkauthn?deviceId=d1", headers: headers)
            #expect(unknown.status == .badRequest)
            #expect(unknown.json["code"] as? String == "invalid_requestor")
        }
    }

    /// MRSS that is not well-formed is refused whole, with the catalogue's 400
    /// `malformed_authz_request`, and stores no decision.
    @Test(arguments: [
        ("unclosed tag", #"<rss version="2.0"><channel><title>REF30</title><item></channel></rss>"#),
        ("a plus left over", #"<rss+version="2.0"><channel><title>REF30</title></channel></rss>"#),
        ("trailing text", #"<channel><title>REF30</title></channel>+"#),
        ("entity declaration", #"<!DOCTYPE rss [<!ENTITY t "REF30">]><rss><channel><title>&t;</title></channel></rss>"#),
        ("external entity", #"<!DOCTYPE rss [<!ENTITY t SYSTEM "file:///etc/passwd">]><rss><channel><title>&t;</title></channel></rss>"#),
        ("item title only", #"<channel><item><title><![CDATA[REF30]]></title></item></channel>"#),
    ])
    func mrssThatIsNotWellFormedIsRefused(name: String, mrss: String) async throws {
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "mrss-tv")
            let reply = try await wire.send(.get, "/api/v1/authorize?" + Self.urlencode([("requestor", "REF30"), ("deviceId", "mrss-tv"), ("resource", mrss)]),
                                            headers: auth)
            #expect(reply.status == .badRequest, "\(name)")
            #expect(reply.json["code"] as? String == "malformed_authz_request", "\(name)")
        }
        #expect(try await harness.count("decision") == 0)
    }

    @Test func aBillionLaughsDocumentIsRefusedAtOnce() async throws {
        var entities = #"<!ENTITY lol0 "lol">"#
        for level in 1...9 { entities += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1);", count: 10) + "\">" }
        let bomb = "<!DOCTYPE rss [\(entities)]><rss><channel><title>&lol9;</title></channel></rss>"
        #expect(bomb.utf8.count < ResourceRequest.maximumLength)
        let started = ContinuousClock.now
        #expect(throws: TesseraError.malformedResource("the MRSS resource has a document type or entity declaration")) {
            try ResourceRequest(parsing: bomb)
        }
        // Generous: expanding the entities would take minutes and gigabytes.
        #expect(ContinuousClock.now - started < .seconds(2))
        let harness = try Harness()
        try await harness.run { wire in
            let auth = try await wire.signedIn(deviceID: "bomb-tv")
            let reply = try await wire.send(.get, "/api/v1/authorize?" + Self.urlencode([("requestor", "REF30"), ("deviceId", "bomb-tv"), ("resource", bomb)]),
                                            headers: auth)
            #expect(reply.status == .badRequest)
            #expect(reply.json["code"] as? String == "malformed_authz_request")
        }
    }
}

/// The MRSS reader on its own.
@Suite struct MRSSReaderTests {
    @Test(arguments: [
        #"<channel><title><![CDATA[REF30]]></title><item><title><![CDATA[Live]]></title><media:rating scheme="urn:v-chip">tv-14</media:rating></item></channel>"#,
        #"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>REF30</title><item><title>Ep</title><media:rating scheme="urn:v-chip">TV-14</media:rating></item></channel></rss>"#,
        #"<rss><channel><title> <![CDATA[REF]]>30 </title><item><media:rating scheme="urn:v-chip">TV-14</media:rating></item></channel></rss>"#,
        "<rss><channel><!-- a comment --><title>REF30</title><item><media:rating scheme=\"urn:v-chip\">TV-14</media:rating></item></channel></rss>",
    ])
    func textAndCDATAAlikeRootedAtRSSOrChannel(mrss: String) throws {
        let resource = try ResourceRequest(parsing: mrss)
        #expect(resource.id == "REF30")
        #expect(resource.rating == Rating(scheme: "urn:v-chip", value: "TV-14"))
        #expect(resource.raw == mrss)
    }

    @Test func aPlainIDWithSpacesIsStillAnID() throws {
        #expect(try ResourceRequest(parsing: "Live Channel").id == "Live Channel")
    }
}

extension String {
    /// As an XML text node writes it.
    var xmlEscaped: String {
        replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
