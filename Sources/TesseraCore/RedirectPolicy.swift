import Foundation

/// Decides whether a redirect target or a `domain_name` belongs to a tenant.
///
/// The URL is parsed first and only its host is compared, label by label, with the registered
/// domains: never a string prefix. Anything a browser and a parser might read differently
/// (backslashes, userinfo, control characters, scheme-relative URLs, percent-encoded hosts)
/// is refused outright.
public struct RedirectPolicy: Sendable {
    public let domains: [String]

    public init(domains: [String]) {
        self.domains = domains.compactMap(Self.normalizedHost)
    }

    /// Whether `url` is an absolute http(s) URL whose host is a registered domain or below one.
    public func allows(url raw: String) -> Bool {
        guard raw.count <= 2048,
              !raw.contains("\\"),
              raw.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }),
              let components = URLComponents(string: raw),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
              raw.lowercased().hasPrefix(scheme + "://"),
              components.user == nil, components.password == nil,
              let encodedHost = components.percentEncodedHost, !encodedHost.contains("%"),
              let host = Self.normalizedHost(encodedHost)
        else { return false }
        return covers(host)
    }

    /// Whether a bare domain name (`domain_name`) is a registered domain or below one.
    public func allows(domainName raw: String) -> Bool {
        guard let host = Self.normalizedHost(raw) else { return false }
        return covers(host)
    }

    private func covers(_ host: String) -> Bool {
        domains.contains { host == $0 || host.hasSuffix("." + $0) }
    }

    /// Lower-cased host without one trailing dot, or `nil` if it is not a DNS name
    /// (letters, digits, hyphens; labels of 1–63 characters).
    public static func normalizedHost(_ raw: String) -> String? {
        var host = raw.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        guard !host.isEmpty, host.count <= 253 else { return nil }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.count),
                  label.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" }),
                  label.first != "-", label.last != "-"
            else { return nil }
        }
        return host
    }
}
