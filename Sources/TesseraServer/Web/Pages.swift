import Foundation
import Hummingbird
import Mustache
import TesseraCore
import TesseraServices

/// The HTML pages Tessera serves itself, rendered with Mustache (which escapes every value).
struct Pages: Sendable {
    let library: MustacheLibrary

    static func load() async throws -> Pages {
        guard let url = Bundle.module.url(forResource: "templates", withExtension: nil, subdirectory: "Resources") else {
            throw ConfigurationError("the page templates are missing from the program's resources")
        }
        return Pages(library: try await MustacheLibrary(directory: url.path))
    }

    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let html = library.render(values, withTemplate: template) ?? ""
        var headers = headers
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // The login state travels in the URL: keep it out of other sites' Referer, framing and
        // foreign forms. Not `no-referrer`: under it browsers send `Origin: null` with the pages'
        // own form posts, which the forms' origin check refuses (found in Chromium).
        headers[.init("Referrer-Policy")!] = "same-origin"
        headers[.init("X-Frame-Options")!] = "DENY"
        headers[.init("X-Content-Type-Options")!] = "nosniff"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func message(_ heading: String, _ text: String, status: HTTPResponse.Status) -> Response {
        render("message", ["title": heading, "heading": heading, "text": text, "isError": status.code >= 400], status: status)
    }

    /// What a failed sign-in means to the person in front of the browser.
    func message(for error: TesseraError) -> Response {
        let status = Self.status(of: error)
        switch error {
        case .loginCode(.expired): return message("Code expired", "This code has expired. Ask your TV for a new code.", status: status)
        case .loginCode(.alreadyUsed): return message("Code already used", "This code has already been used.", status: status)
        case .loginCode: return message("Unknown code", "This code is not valid. Check the code on your TV.", status: status)
        case .tooManyRequests: return message("Too many attempts", "Too many attempts. Wait a few minutes and try again.", status: status)
        case .storageFailure: return message("Try again", "Something went wrong on our side. Try again in a moment.", status: status)
        case .upstreamLogin(.refused): return message("Not signed in", "Your provider did not sign you in. Start again from your TV.", status: status)
        case .upstreamLogin(.unavailable):
            return message("Provider unavailable", "Your provider did not answer. Try again in a few minutes.", status: status)
        case .upstreamLogin(.invalidResponse):
            return message("Not signed in", "Your provider's answer could not be accepted. Start again from your TV.", status: status)
        default: return message("Cannot continue", V1Errors.entry(error).message, status: status)
        }
    }

    /// The pages' catalogue: what a person sees is the page; the status tells a script.
    static func status(of error: TesseraError) -> HTTPResponse.Status {
        switch error {
        case .tooManyRequests: .tooManyRequests
        case .storageFailure, .metadataEncryptionFailed: .internalServerError
        case .payloadTooLarge: .contentTooLarge
        case .authorizationDenied, .parentalControl: .forbidden
        // The provider's failure, not Tessera's: a gateway's status, never a 500.
        case .upstreamLogin(.unavailable): .badGateway
        case .upstreamLogin: .forbidden
        default: .badRequest
        }
    }
}
