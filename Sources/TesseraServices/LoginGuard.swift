import Foundation
import Logging
import Synchronization
import TesseraCore

/// Keeps the limits of ``LoginLimits`` in memory, per instance (see README "Security" for what
/// that means behind a load balancer). Every table is bounded.
public final class LoginGuard: Sendable {
    let limits: LoginLimits
    let clock: any TesseraClock
    let logger: Logger
    /// Wrong codes and passwords per client address.
    private let addressFailures: AttemptLimiter
    /// When each address over its limit was last let through.
    private let addressChecks = BoundedCache<String, Date>(capacity: 100_000)
    /// Wrong passwords per subscriber, and the lockouts.
    private let subscriberFailures: AttemptLimiter
    private let lockouts = BoundedCache<String, Date>(capacity: 100_000)
    /// Wrong codes per tenant, and since when each tenant is guarded.
    private let tenantFailures: AttemptLimiter
    private let guardedSince = Mutex<[String: Date]>([:])
    private let guardedChecks: TokenBuckets

    public init(limits: LoginLimits, clock: any TesseraClock, logger: Logger) {
        self.limits = limits
        self.clock = clock
        self.logger = logger
        addressFailures = AttemptLimiter(limit: limits.addressFailures, window: limits.window, clock: clock)
        subscriberFailures = AttemptLimiter(limit: limits.lockoutAttempts, window: limits.window, clock: clock)
        tenantFailures = AttemptLimiter(limit: limits.codeFailureAlarm, window: limits.window, capacity: 10_000, clock: clock)
        guardedChecks = TokenBuckets(capacity: 10_000, clock: clock)
    }

    /// Whether `address` may have a code or password checked now. An address within its limit
    /// always may; one past it, once per ``LoginLimits/addressBackoff``.
    public func admitsAddress(_ address: String) -> Bool {
        guard !addressFailures.allows(address) else { return true }
        let now = clock.now()
        if let last = addressChecks.value(for: address), now.timeIntervalSince(last) < limits.addressBackoff { return false }
        addressChecks.set(address, now)
        return true
    }

    /// Whether a code of `tenantID` may be checked now: always, unless the tenant is guarded
    /// and its bucket is empty.
    public func admitsCodeCheck(tenantID: String) -> Bool {
        let now = clock.now()
        let guarded = guardedSince.withLock { table -> Bool in
            guard let since = table[tenantID] else { return false }
            if now.timeIntervalSince(since) < limits.window { return true }
            table[tenantID] = nil
            return false
        }
        return !guarded || guardedChecks.take(tenantID, policy: ThrottlePolicy(rate: limits.guardedRate, burst: limits.guardedBurst))
    }

    /// Counts a failure of `address`; the one that takes it past its limit starts its backoff.
    private func recordAddressFailure(_ address: String) {
        addressFailures.recordFailure(address)
        if !addressFailures.allows(address) { addressChecks.set(address, clock.now()) }
    }

    public func recordWrongCode(tenantID: String, address: String) {
        recordAddressFailure(address)
        tenantFailures.recordFailure(tenantID)
        guard !tenantFailures.allows(tenantID) else { return }
        let now = clock.now()
        let raised = guardedSince.withLock { table -> Bool in
            let wasGuarded = table[tenantID].map { now.timeIntervalSince($0) < limits.window } ?? false
            table[tenantID] = now
            return !wasGuarded
        }
        if raised {
            logger.notice("security: wrong registration codes past the alarm: code checks of the tenant slowed down", metadata: [
                "event": "code-guessing", "tenant": .string(tenantID), "failures": .stringConvertible(limits.codeFailureAlarm),
                "window": .stringConvertible(limits.window)])
        }
    }

    /// The key of a subscriber: provider and username as typed, case-folded (a known user or not).
    static func subscriberKey(providerID: String, username: String) -> String {
        providerID + "\u{0}" + username.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// Until when the subscriber is locked out, if it is.
    public func lockedUntil(providerID: String, username: String) -> Date? {
        let key = Self.subscriberKey(providerID: providerID, username: username)
        guard let until = lockouts.value(for: key) else { return nil }
        return until > clock.now() ? until : nil
    }

    /// How many more wrong passwords lock the subscriber out (OneAccess tells the user).
    public func remainingPasswordAttempts(providerID: String, username: String) -> Int {
        subscriberFailures.remaining(Self.subscriberKey(providerID: providerID, username: username))
    }

    /// Counts a wrong password for the subscriber and the address; returns the unlock time when
    /// this one locked the subscriber out.
    @discardableResult
    public func recordWrongPassword(providerID: String, username: String, address: String) -> Date? {
        recordAddressFailure(address)
        let key = Self.subscriberKey(providerID: providerID, username: username)
        subscriberFailures.recordFailure(key)
        guard !subscriberFailures.allows(key), lockedUntil(providerID: providerID, username: username) == nil else { return nil }
        let until = clock.now().addingTimeInterval(limits.lockoutDuration)
        lockouts.set(key, until)
        subscriberFailures.reset(key)
        // The username is the subscriber's: logged as a digest, never as typed.
        logger.notice("security: subscriber locked out after wrong passwords", metadata: [
            "event": "lockout", "provider": .string(providerID), "subscriber": .string(String(SecretDigest(of: key).hex.prefix(16))),
            "client": .string(address), "until": .stringConvertible(until.epochMilliseconds)])
        return until
    }
}
