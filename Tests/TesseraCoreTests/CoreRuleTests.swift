import Foundation
import Testing
@testable import TesseraCore

@Suite struct RegistrationCodeTests {
    @Test func generatedCodesUseTheUnambiguousAlphabet() {
        var seen = Set<String>()
        for _ in 0..<2000 {
            let code = RegistrationCode.generate()
            #expect(code.count == 7)
            #expect(code.allSatisfy { RegistrationCode.alphabet.contains($0) })
            #expect(!code.contains { "01OILS5".contains($0) })
            seen.insert(code)
        }
        #expect(seen.count > 1990)
    }

    @Test func entryIsCaseInsensitiveAndIgnoresSeparators() {
        #expect(RegistrationCode.normalize("7kxq2mz") == "7KXQ2MZ")
        #expect(RegistrationCode.normalize("7KX-Q2M Z") == "7KXQ2MZ")
        #expect(RegistrationCode.normalize("7KXQ2M") == nil)
        #expect(RegistrationCode.normalize("7KXQ2M0") == nil)
        #expect(RegistrationCode.normalize(String(repeating: "A", count: 100)) == nil)
    }

    @Test func digestsAreScopedToTheTenant() {
        #expect(RegistrationCode.digest("ABCDEFG", tenant: "REF30") != RegistrationCode.digest("ABCDEFG", tenant: "OTHER"))
    }
}

@Suite struct DeviceInfoTests {
    func encode(_ json: String) -> String { Data(json.utf8).base64EncodedString() }

    @Test func acceptsAValidObject() throws {
        let info = try DeviceInfo(encoded: encode(#"{"model":"Roku Ultra","osName":"Roku OS","primaryHardwareType":"SetTopBox","displayWidth":1920,"connectionSecure":true}"#))
        #expect(info.fields["model"] == "Roku Ultra")
        #expect(info.fields["displayWidth"] == "1920")
        #expect(info.fields["connectionSecure"] == "true")
    }

    @Test func acceptsURLSafeUnpaddedBase64AndSpacesForPlus() throws {
        let standard = encode(#"{"model":"m>>>?","osName":"iOS"}"#)
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect(try DeviceInfo(encoded: urlSafe).fields["model"] == "m>>>?")
        #expect(try DeviceInfo(encoded: standard.replacingOccurrences(of: "+", with: " ")).fields["osName"] == "iOS")
    }

    @Test(arguments: [
        "not base64!!", Data("[1,2]".utf8).base64EncodedString(), Data("{\"model\":\"x\"}".utf8).base64EncodedString(),
        Data(#"{"model":"x","osName":"Plan9"}"#.utf8).base64EncodedString(),
        Data(#"{"model":{"a":1},"osName":"iOS"}"#.utf8).base64EncodedString(),
        String(repeating: "A", count: 9000),
    ])
    func refusesMalformedValues(encoded: String) {
        #expect(throws: TesseraError.self) { try DeviceInfo(encoded: encoded) }
    }
}

@Suite struct SecretTests {
    @Test func secretsAreLongAndDistinct() {
        let a = Secret.generate(), b = Secret.generate()
        #expect(a != b)
        #expect(a.count == 43)
        #expect(SecretDigest(of: a).matches(a))
        #expect(!SecretDigest(of: a).matches(b))
    }

    @Test func secretsHaveTheirLengthAndTheirBytesVary() {
        for count in [1, 7, 8, 9, 16, 33] {
            #expect(Secret.generate(byteCount: count).count == (count * 4 + 2) / 3)
        }
        // 1,000 secrets of 32 bytes: every byte position takes many values (none stuck at zero).
        let samples = (0..<1000).map { _ in Secret.randomBytes(32) }
        for position in 0..<32 { #expect(Set(samples.map { $0[$0.startIndex + position] }).count > 100) }
    }

    @Test func randomUUIDsAreVersion4AndDistinct() {
        let ids = (0..<1000).map { _ in UUID.random() }
        #expect(Set(ids).count == 1000)
        for id in ids {
            let text = id.uuidString
            #expect(Array(text)[14] == "4")
            #expect("89AB".contains(Array(text)[19]))
            #expect(UUID(uuidString: text) == id)
        }
    }

    @Test func passwordHashesVerifyAndRoundTrip() throws {
        let hash = try PasswordHash(password: "correct horse", rounds: 1000)
        #expect(hash.verify("correct horse"))
        #expect(!hash.verify("correct horsf"))
        let parsed = try #require(PasswordHash(encoded: hash.encoded))
        #expect(parsed == hash)
        #expect(PasswordHash(encoded: "md5$1$abc$def") == nil)
    }

    @Test func directoryProviderChecksPasswords() throws {
        let provider = DirectoryProvider(id: "P", displayName: "P", subscribers: [
            Subscriber(username: "ann", passwordHash: try PasswordHash(password: "pw", rounds: 1000), userID: "u-ann"),
        ])
        #expect(provider.authenticate(username: "ann", password: "pw") == Subject(userID: "u-ann", providerID: "P"))
        #expect(provider.authenticate(username: "ann", password: "PW") == nil)
        #expect(provider.authenticate(username: "bob", password: "pw") == nil)
    }

    /// The ASCII shortcuts answer exactly as the general checks do.
    @Test(arguments: ["", "abc", "bench-00000001", "é", "e\u{301}", "🇫🇷🇫🇷", "a\u{0}b", "tab\there", "del\u{7F}", "x\u{85}y",
                      "line\u{2028}sep", "cr\r\nlf", " padded", "padded ", "\u{3000}ideographic", "trail\u{A0}", "ok\u{301}"])
    func textChecksAgreeWithTheGeneralOnes(text: String) {
        for limit in 0...8 { #expect(text.hasAtMost(limit) == (text.count <= limit)) }
        #expect(text.containsControlCharacter == text.unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(text.containsNewline == text.contains { $0.isNewline })
        #expect(text.hasEdgeWhitespace == (text.first?.isWhitespace == true || text.last?.isWhitespace == true))
    }
}

@Suite struct TimeOrderedIDTests {
    @Test func carriesTheMillisecondsVersionAndVariantOfRFC9562() {
        let date = Date(epochMilliseconds: 1_764_000_000_123)
        let id = UUID.timeOrdered(at: date)
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        let milliseconds = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(milliseconds == UInt64(date.epochMilliseconds))
        #expect(milliseconds / 1000 == 1_764_000_000)
        #expect(bytes[6] >> 4 == 7)
        #expect(bytes[8] >> 6 == 0b10)
    }

    @Test func idsOfLaterMillisecondsSortAfterAsStoredTextAndAreUnique() {
        let start = Date(timeIntervalSince1970: 1_764_000_000)
        var seen = Set<UUID>()
        var previous = ""
        for step in 0..<2000 {
            let id = UUID.timeOrdered(at: Date(epochMilliseconds: start.epochMilliseconds + Int64(step)))
            // The stores keep ids as upper-case text (SQLite) or as uuid (PostgreSQL): both sort bytewise.
            #expect(id.uuidString > previous)
            previous = id.uuidString
            seen.insert(id)
            seen.insert(UUID.timeOrdered(at: start))
        }
        #expect(seen.count == 4000)
    }
}

@Suite struct UUIDTextTests {
    @Test func writesWhatFoundationWritesAndReadsItBack() {
        for _ in 0..<500 {
            let id = UUID.random()
            #expect(id.canonicalText == id.uuidString)
            #expect(UUID(canonicalText: id.uuidString) == id)
            #expect(UUID(canonicalText: id.uuidString.lowercased()) == id)
        }
        let edge = UUID(uuid: (0, 0xFF, 0x0A, 0xA0, 0x10, 0x01, 0xF0, 0x0F, 0x99, 0x9F, 0xF9, 0xAB, 0xCD, 0xEF, 0x12, 0x34))
        #expect(edge.canonicalText == "00FF0AA0-1001-F00F-999F-F9ABCDEF1234")
        #expect(UUID(canonicalText: "00ff0aa0-1001-f00f-999f-f9abcdef1234") == edge)
    }

    @Test func theOrderKeyIsTheOrderOfTheText() {
        let ids = (0..<500).map { _ in UUID.random() }
        #expect(ids.sorted { $0.orderKey < $1.orderKey }.map(\.uuidString) == ids.map(\.uuidString).sorted())
    }

    @Test func refusesWhatFoundationRefuses() {
        for text in ["", "00FF0AA0-1001-F00F-999F-F9ABCDEF123", "00FF0AA0-1001-F00F-999F-F9ABCDEF12345",
                     "00FF0AA0+1001-F00F-999F-F9ABCDEF1234", "00FF0AA0-1001-F00F-999F-F9ABCDEF123G",
                     "00FF0AA01001-F00F-999F-F9ABCDEF12345", "00FF0AA0-1001-F00F-999F-F9ABCDEF12É"] {
            #expect(UUID(canonicalText: text) == nil, "\(text)")
            #expect(UUID(uuidString: text) == nil, "\(text)")
        }
    }
}

@Suite struct HexadecimalTests {
    @Test func decodesEitherCaseAndRefusesWhatIsNotHex() {
        #expect(Data(hexadecimal: "00ff7Fa0") == Data([0x00, 0xFF, 0x7F, 0xA0]))
        #expect(Data(hexadecimal: "") == Data())
        for bad in ["abc", "zz", "0x00", "12 34", "ä0"] { #expect(Data(hexadecimal: bad) == nil, "\(bad)") }
        let digest = SecretDigest(of: "token")
        #expect(Data(hexadecimal: digest.hex) == digest.bytes)
    }
}
