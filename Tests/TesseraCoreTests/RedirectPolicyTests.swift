import Testing
import TesseraCore

@Suite struct RedirectPolicyTests {
    let policy = RedirectPolicy(domains: ["adobe.com", "Example.com."])

    @Test(arguments: [
        "https://adobe.com/done", "http://example.com", "https://www.adobe.com/a?b=c#d", "HTTPS://ADOBE.COM/x",
        "https://adobe.com./x", "https://tv.example.com:8443/activate",
    ])
    func allowsRegisteredDomainsAndBelow(url: String) {
        #expect(policy.allows(url: url))
    }

    @Test(arguments: [
        "https://adobe.com.evil.test", "https://evil.test/@adobe.com", "//evil.test", "//adobe.com/x",
        "https://user@adobe.com/", "https://adobe.com:pw@evil.test/", "https://evil.test\\@adobe.com",
        "https:\\\\adobe.com", "javascript:alert(1)//adobe.com", "data:text/html,adobe.com", "ftp://adobe.com/",
        "https://evil-adobe.com/", "https://notadobe.com", "https://adobe.com%2eevil.test/", "https://adobe.com\u{0}.evil.test",
        "https://adobe.com /", "adobe.com", "https://", "https:adobe.com", "https://xn--adobe.com.evil.test/",
        "https://adobe.com..", "https://evil.test#@adobe.com", "https://evil.test?x=adobe.com",
    ])
    func refusesTricks(url: String) {
        #expect(!policy.allows(url: url))
    }

    @Test func domainNames() {
        #expect(policy.allows(domainName: "adobe.com"))
        #expect(policy.allows(domainName: "ADOBE.COM."))
        #expect(policy.allows(domainName: "www.example.com"))
        #expect(!policy.allows(domainName: "adobe.com.evil.test"))
        #expect(!policy.allows(domainName: "evil.test/adobe.com"))
        #expect(!policy.allows(domainName: "user@adobe.com"))
        #expect(!policy.allows(domainName: ""))
        #expect(!policy.allows(domainName: "badobe.com"))
    }
}
