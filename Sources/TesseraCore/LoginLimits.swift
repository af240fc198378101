import Foundation

/// How hard guessing codes and passwords is made (`server.login_limits` in the YAML).
///
/// Three independent limits, because each catches what the others miss:
/// - per client address: after `addressFailures` wrong codes or passwords within `window`, the
///   address gets one check per `addressBackoff` seconds: slow enough to stop one machine
///   guessing, and a household behind a shared address that mistyped a code waits seconds, not
///   minutes, before its right code works;
/// - per subscriber (provider and username, known or not): after `lockoutAttempts` wrong
///   passwords within `window`, from any addresses, the account is locked for `lockoutDuration`,
///   the right password included; unknown usernames lock the same way, so the answer never
///   tells whether a user exists;
/// - per tenant: once `codeFailureAlarm` wrong codes arrive within `window` across all
///   addresses, someone is guessing: for `window` after the last alarm every code check of the
///   tenant takes a token from one bucket of `guardedRate` per second (burst `guardedBurst`), and
///   a check without a token is answered 429 before the code is looked at.
public struct LoginLimits: Sendable, Equatable {
    public var window: TimeInterval = 600
    public var addressFailures = 10
    public var addressBackoff: TimeInterval = 30
    public var lockoutAttempts = 10
    public var lockoutDuration: TimeInterval = 900
    public var codeFailureAlarm = 100
    public var guardedRate: Double = 1
    public var guardedBurst: Double = 5

    public init() {}
}
