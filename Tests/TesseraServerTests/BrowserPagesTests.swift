import Foundation
import Testing

/// The second-screen pages in a real browser: `Tests/clients/pages_browser.py` drives headless
/// Chromium through Selenium (Debian's `chromium` and `chromium-driver`, `selenium` from PyPI, all
/// installed by .ci/run) against the real `tessera` program with the demo tenant: typing a code,
/// picking a provider, a wrong password, signing in, confirming, an expired code, the provider's
/// logout, keyboard only, desktop and phone sizes; plus the pages' security headers, cookie flags
/// and CSRF refusal. Screenshots of every page at both sizes go to TESSERA_SCREENSHOTS (default: a
/// temporary folder) for a person to look at.
///
/// On CI (TESSERA_REQUIRE_REAL_CLIENTS) a missing browser fails this suite instead of skipping it.
@Suite struct BrowserPagesTests {
    static func available() async -> Bool {
        if MeetingSDKTests.required { return true }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else { return false }
        return await MeetingSDKTests.python(imports: "selenium")
    }

    @Test(.enabled("needs chromium, chromium-driver and selenium (.ci/run installs them)") { await available() }, .timeLimit(.minutes(5)))
    func aPersonActivatesATVInChromiumWithMouseOrKeyboardOnDesktopAndPhone() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-browser-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shots = ProcessInfo.processInfo.environment["TESSERA_SCREENSHOTS"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("tessera-screenshots-\(UUID())").path
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let server = try await TesseraProcess.launch(dataDirectory: directory)
        defer { server.kill9() }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/pages_browser.py").path
        let run = try await MeetingSDKTests.run(["python3", script, "http://127.0.0.1:\(server.port)", directory + "/demo-credentials.json", shots])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("all steps held"), "\(run.output)")
        let taken = (try? FileManager.default.contentsOfDirectory(atPath: shots)) ?? []
        for page in ["activate", "login", "login-wrong-password", "confirm", "done", "activate-expired-code", "logout", "logged-out"] {
            for size in ["desktop", "phone"] { #expect(taken.contains("\(page)-\(size).png"), "no screenshot of \(page) at \(size) size") }
        }
    }
}
