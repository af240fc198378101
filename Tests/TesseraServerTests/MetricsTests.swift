import Foundation
import HTTPTypes
import Testing
import TesseraCore
@testable import TesseraServer
@testable import TesseraServices

/// `GET /metrics`: Prometheus text behind the admin token, with requests by door, route template,
/// method and status class; logins, logouts and revokes by dialect and outcome; sessions by kind;
/// cache lookups; store operations and batch sizes; throttled requests. No label carries a
/// value from a request (on the store the tests run on).
@Suite struct MetricsTests {
    static var configuration: TesseraConfiguration {
        var configuration = AdminAPITests.configuration
        configuration.throttling = true
        return configuration
    }

    /// The value of the sample `name{labels}` (labels as the exposition writes them), if present.
    static func sample(_ text: String, _ name: String, _ labels: String) -> Double? {
        let prefix = "\(name){\(labels)} "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    @Test func theMetricsCountWhatHappenedAndNameNothingARequestSent() async throws {
        try await Harness(configuration: Self.configuration).run { wire in
            #expect(try await wire.send(.get, "/metrics").status == .unauthorized)
            #expect(try await wire.send(.get, "/metrics", headers: [.authorization: "Bearer wrong-token-0123456789"]).status == .unauthorized)

            let auth = try await wire.signedIn(deviceID: "metrics-tv-7f3a")
            let bearer = try #require(auth[.authorization])
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("metrics-tv-7f3a"), headers: auth).status == .ok)
            #expect(try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("metrics-tv-7f3a"), headers: auth).status == .ok)
            #expect(try await wire.send(.get, "/no/such/path/secret-8d1c").status == .notFound)
            await wire.services.countSessions()
            #expect(try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("metrics-tv-7f3a"), headers: auth).status == .noContent)
            #expect(try await wire.send(.delete, "/api/v1/logout" + wire.deviceQuery("metrics-tv-7f3a"), headers: [:]).status != .noContent)
            #expect(try await wire.send(.delete, AdminAPITests.sessionsOfFull, headers: AdminAPITests.admin).status == .ok)
            // Throttled: past the burst of one address.
            var throttled = false
            for _ in 0..<30 where !throttled {
                throttled = try await wire.send(.get, "/api/v1/checkauthn" + wire.deviceQuery("metrics-other"), headers: auth).status == .tooManyRequests
            }
            #expect(throttled)

            let reply = try await wire.send(.get, "/metrics", headers: AdminAPITests.admin)
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = reply.body
            let checkauthn = #"door="clientless-v1",route="/api/v1/checkauthn",method="GET",status="2xx""#
            #expect(Self.sample(text, "tessera_http_request_duration_seconds_count", checkauthn) == 2)
            #expect(Self.sample(text, "tessera_http_request_duration_seconds_bucket", checkauthn + #",le="+Inf""#) == 2)
            #expect(Self.sample(text, "tessera_http_request_duration_seconds_count", #"door="none",route="NotFound",method="GET",status="4xx""#) == 1)
            #expect(Self.sample(text, "tessera_logins_total", #"dialect="web",outcome="ok""#) == 1)
            #expect(Self.sample(text, "tessera_logouts_total", #"dialect="clientless-v1",outcome="ok""#) == 1)
            #expect(Self.sample(text, "tessera_revokes_total", #"dialect="admin",outcome="none""#) == 1)
            #expect(Self.sample(text, "tessera_sessions", #"kind="device""#) == 1)
            #expect(Self.sample(text, "tessera_sessions", #"kind="user""#) == 0)
            #expect((Self.sample(text, "tessera_cache_hits_total", #"cache="device_logins""#) ?? 0) >= 1)
            #expect((Self.sample(text, "tessera_cache_hits_total", #"cache="verified_bearers""#) ?? 0) >= 1)
            #expect((Self.sample(text, "tessera_throttled_requests_total", #"door="clientless-v1""#) ?? 0) >= 1)
            let store = wire.services.configuration.databaseURL == nil ? "sqlite" : "postgres"
            #expect((Self.sample(text, "tessera_store_operation_duration_seconds_count", #"store="\#(store)",operation="read""#) ?? 0) >= 1)
            #expect((Self.sample(text, "tessera_store_batch_size_count", #"store="\#(store)""#) ?? 0) >= 1)
            if store == "postgres" { #expect(text.contains("tessera_postgres_peer_instances 0")) }
            // Nothing of what a request sent: device, bearer, path, subject.
            for secret in ["metrics-tv-7f3a", String(bearer.dropFirst("Bearer ".count)), "secret-8d1c", "cv-user-full", AdminAPITests.token] {
                #expect(!text.contains(secret), "the metrics hold \(secret)")
            }
        }
    }

    /// Without an admin token the metrics, like the admin API, do not exist.
    @Test func withoutAnAdminTokenThereAreNoMetrics() async throws {
        try await Harness().run { wire in
            let reply = try await wire.send(.get, "/metrics")
            #expect(reply.status == .notFound)
        }
    }
}
