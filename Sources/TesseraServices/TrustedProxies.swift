#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import TesseraCore

/// The proxies whose `X-Forwarded-For` Tessera believes: addresses or CIDR blocks.
///
/// The client address of a request is its TCP peer, unless that peer is trusted; then it is
/// the right-most address in `X-Forwarded-For` that is not itself a trusted proxy. A header
/// sent by anyone else is ignored, so it cannot move a client into another throttling bucket.
public struct TrustedProxies: Sendable {
    struct Block: Sendable { let address: [UInt8]; let prefix: Int }
    let blocks: [Block]

    public init(_ entries: [String]) throws {
        blocks = try entries.map { entry in
            let parts = entry.split(separator: "/", maxSplits: 1)
            guard let address = Self.parse(String(parts[0])) else { throw ConfigurationError("trusted proxy \(entry) is not an IP address or CIDR block") }
            let prefix = parts.count == 2 ? Int(parts[1]) : address.count * 8
            guard let prefix, (0...(address.count * 8)).contains(prefix) else { throw ConfigurationError("trusted proxy \(entry) has a bad prefix length") }
            return Block(address: address, prefix: prefix)
        }
    }

    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.parse(address) else { return false }
        return blocks.contains { block in
            guard block.address.count == bytes.count else { return false }
            var remaining = block.prefix
            for (a, b) in zip(block.address, bytes) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if a & mask != b & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    /// The client address for a request from `peer` carrying `forwardedFor`.
    public func clientAddress(peer: String?, forwardedFor: String?) -> String {
        guard let peer else { return "unknown" }
        guard contains(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() where !contains(hop) {
            return Self.parse(hop) != nil ? hop : peer
        }
        return hops.first ?? peer
    }

    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}
