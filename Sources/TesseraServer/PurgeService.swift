import Foundation
import Logging
import ServiceLifecycle
import TesseraCore
import TesseraServices
import TesseraStore

/// Deletes expired codes, attempts, nonces and sessions every `interval`, until shutdown.
struct PurgeService: Service {
    let store: any Store
    let clock: any TesseraClock
    let interval: Duration
    /// Sessions and decisions are kept this long past expiry, so the API can still answer 410.
    let grace: TimeInterval
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    let removed = try await store.purgeExpired(now: clock.now(), grace: grace)
                    if removed > 0 { logger.debug("purged \(removed) expired rows") }
                } catch {
                    logger.error("purge failed: \(error)")
                }
            }
        }
    }
}

/// Writes the sessions' last-used times every `interval`, and once more at shutdown.
struct SessionUseRecorder: Service {
    let services: Services
    let interval: Duration

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await services.recordSessionUses()
            }
        }
        await services.recordSessionUses()
    }
}

/// Counts the sessions by kind for the `tessera_sessions` gauge: at start, then every `interval`.
struct SessionCounter: Service {
    let services: Services
    let interval: Duration

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await services.countSessions()
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// Delivers what ended sessions left in the store's outbox (upstream revocations, programmers'
/// back-channel logouts) every `interval`, on every instance (each delivery is leased to one),
/// and counts what waits for the metrics.
struct LogoutDeliveryService: Service {
    let services: Services
    let interval: Duration

    func run() async throws {
        do { try await services.registerBackchannelTenants() } catch {
            services.logger.error("cannot register the tenants' back-channel logouts: \(error)")
        }
        try? await cancelWhenGracefulShutdown {
            var lastCount = ContinuousClock.now - .seconds(3600)
            while !Task.isCancelled {
                // A full round: more may be due at once.
                while await services.deliverLogouts() == Services.deliveriesPerRound, !Task.isCancelled {}
                // The gauge at most every 15 s: a count is a read the loop does not otherwise need.
                if ContinuousClock.now - lastCount >= .seconds(15) {
                    await services.countPendingDeliveries()
                    lastCount = .now
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// Closes the store's connections once the server has stopped taking requests.
struct StoreCloser: Service {
    let store: any Store

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
