import _CryptoExtras
import Foundation
import Synchronization
import TesseraCore
import TesseraStore

/// The RSA key pairs of user-session applications: kept sealed in the store, opened once and
/// held in memory. Each application has one current key (what `public-key` answers) and may have
/// retired ones that still decrypt for the tenant's grace period after a rotation.
///
/// Another instance may rotate a key. On PostgreSQL the rotation is announced like a logout
/// (``MemoryKey/applicationKeys(tenantID:clientID:)``): every live instance drops the
/// application's keys before the rotation answers, so the new key decrypts everywhere at once.
/// Besides, a proof none of the held keys opens makes them be read again (at most once per
/// ``reloadInterval``), and `public-key` reads them again when they are older than that.
package final class ApplicationKeys: Sendable {
    package struct Opened: Sendable {
        package let stored: ApplicationKey
        let opened: OpenedPrivateKey
        var privateKey: _RSA.Encryption.PrivateKey { opened.key }
    }

    /// A private key shared by the requests that decrypt with it, also parsed once into
    /// libcrypto (``ProofDecryption`` says why). `@unchecked` because `_RSA.Encryption.PrivateKey`
    /// is not marked Sendable: it is immutable after it is made, and BoringSSL's RSA private-key
    /// operations on one key are safe from several threads at once (its blinding state is locked
    /// inside the RSA object).
    final class OpenedPrivateKey: @unchecked Sendable {
        let key: _RSA.Encryption.PrivateKey
        let libcrypto: LibcryptoRSAKey?
        init(_ key: _RSA.Encryption.PrivateKey) {
            self.key = key
            libcrypto = LibcryptoRSAKey(privateKeyDER: key.derRepresentation)
        }
    }

    struct Held {
        var keys: [Opened]
        var loadedAt: Date
    }

    static let reloadInterval: TimeInterval = 5
    let store: any ApplicationKeyStore
    let sealing: KeySealing
    let clock: any TesseraClock
    private let held = Mutex<[String: Held]>([:])

    init(store: any ApplicationKeyStore, sealing: KeySealing, clock: any TesseraClock) {
        self.store = store
        self.sealing = sealing
        self.clock = clock
    }

    static func key(_ tenantID: String, _ clientID: String) -> String { tenantID + "\u{0}" + clientID }

    /// Opens every configured application's keys, so that a wrong key-encryption key stops the
    /// start rather than the first proof. An application without a key gets one when it is first needed
    /// (an RSA-2048 key pair takes a moment to make; a start should not wait for one per
    /// application it may never serve).
    package func prepare(_ directory: Directory) async throws {
        for tenantID in directory.tenantOrder {
            guard let tenant = directory.tenant(tenantID), let policy = tenant.userSessions else { continue }
            for application in policy.applications {
                do { _ = try await load(tenantID: tenant.id, clientID: application.clientID, creating: false) } catch let error as ConfigurationError {
                    throw error
                } catch {
                    throw ConfigurationError("the keys of application \(application.clientID) of tenant \(tenant.id) do not open with this key-encryption key: \(error)")
                }
            }
        }
    }

    /// Reads the application's keys from the store and opens them; with `creating`, first makes
    /// one when it has no current key (instances racing to do so end up with the first one's).
    @discardableResult
    func load(tenantID: String, clientID: String, creating: Bool = true) async throws -> [Opened] {
        var stored = try await store.applicationKeys(tenantID: tenantID, clientID: clientID)
        if creating, stored.allSatisfy({ $0.retiredAt != nil }) {
            try await store.insertUnlessApplicationHasKey(try sealing.newApplicationKey(tenantID: tenantID, clientID: clientID, createdAt: clock.now()))
            stored = try await store.applicationKeys(tenantID: tenantID, clientID: clientID)
        }
        let opened = try stored.map { stored in
            Opened(stored: stored, opened: OpenedPrivateKey(try sealing.privateKey(of: stored)))
        }
        let now = clock.now()
        held.withLock { $0[Self.key(tenantID, clientID)] = Held(keys: opened, loadedAt: now) }
        return opened
    }

    /// The application's current key (read again when it is older than ``reloadInterval``).
    func current(tenantID: String, clientID: String) async throws -> Opened {
        let now = clock.now()
        var keys = held.withLock { held in
            held[Self.key(tenantID, clientID)].flatMap { now.timeIntervalSince($0.loadedAt) < Self.reloadInterval ? $0.keys : nil }
        }
        // Read again when old, and made when there is none yet.
        if keys?.contains(where: { $0.stored.retiredAt == nil }) != true { keys = try await load(tenantID: tenantID, clientID: clientID) }
        guard let current = keys?.last(where: { $0.stored.retiredAt == nil }) else {
            throw ConfigurationError("application \(clientID) of tenant \(tenantID) has no current key")
        }
        return current
    }

    /// The keys that may decrypt a proof now: the current one and those retired less than `grace` ago.
    func decrypting(tenantID: String, clientID: String, grace: TimeInterval, reload: Bool) async throws -> [Opened] {
        let now = clock.now()
        let held = self.held.withLock { $0[Self.key(tenantID, clientID)] }
        var keys = held?.keys ?? []
        // Read again when asked or when nothing is held, at most once per interval however many
        // undecryptable proofs arrive. No key is made here: a proof can only have been made with
        // one that exists.
        if reload || held == nil, held.map({ now.timeIntervalSince($0.loadedAt) >= Self.reloadInterval }) ?? true {
            keys = try await load(tenantID: tenantID, clientID: clientID, creating: false)
        }
        return keys.filter { key in key.stored.retiredAt.map { now.timeIntervalSince($0) < grace } ?? true }.reversed()
    }

    /// Drops the keys held for the applications among `keys` (rotated on another instance): the
    /// next proof or `public-key` reads them again.
    func invalidate(_ keys: [MemoryKey]) {
        let rotated = keys.compactMap { key -> String? in
            guard case .applicationKeys(let tenantID, let clientID) = key else { return nil }
            return Self.key(tenantID, clientID)
        }
        guard !rotated.isEmpty else { return }
        held.withLock { held in for key in rotated { held[key] = nil } }
    }

    /// Drops every held key (this instance may have missed an announcement).
    func forgetAll() {
        held.withLock { $0.removeAll() }
    }

    /// A new current key for the application; the previous ones retire now.
    package func rotate(tenantID: String, clientID: String) async throws -> ApplicationKey {
        let key = try sealing.newApplicationKey(tenantID: tenantID, clientID: clientID, createdAt: clock.now())
        try await store.rotate(to: key)
        try await load(tenantID: tenantID, clientID: clientID)
        return key
    }
}
