import Foundation

/// A provider's answer to "may this subject play this resource?".
public enum Entitlement: Sendable, Equatable {
    case permit
    /// The provider said no; `details` is its own text for the user.
    case deny(details: String?)
    /// The subject's parental-control ceiling is below the item's rating.
    case parentalControl(details: String?)
}

/// A provider that decides authorization itself from its own data (the directory provider).
/// A TempPass is decided from its trial in the store instead.
public protocol EntitlementDeciding: IdentityProvider {
    func entitlement(for subject: Subject, resource: ResourceRequest) -> Entitlement
    /// The subscriber's metadata (userID, householdID, zip, maxRating, channelID …), if any.
    func metadata(for subject: Subject) -> [String: MetadataValue]?
    /// The proxy provider this one sits behind, if any (v1 `proxyMvpd`).
    var proxyProviderID: String? { get }
}

extension Entitlement {
    /// A subscriber's answer for `resource`: denied unless `entitlements` has it (with the
    /// provider's `denyMessage`), then the parental ceiling of its metadata's `maxRating`.
    public static func of(entitlements: Set<String>, metadata: [String: MetadataValue], resource: ResourceRequest,
                          denyMessage: String?) -> Entitlement {
        guard entitlements.contains(resource.id) else {
            return .deny(details: denyMessage.map { $0.replacingOccurrences(of: "{resource}", with: resource.id) })
        }
        if let rating = resource.rating, case .map(let ceilings)? = metadata["maxRating"],
           let ceiling = ceilings[rating.scale.rawValue], rating.exceeds(ceiling) {
            return .parentalControl(details: "The rating \(rating.value) is above this household's \(rating.scale.rawValue) limit of \(ceiling).")
        }
        return .permit
    }
}

extension DirectoryProvider: EntitlementDeciding {
    public func entitlement(for subject: Subject, resource: ResourceRequest) -> Entitlement {
        guard let subscriber = subscriber(userID: subject.userID) else { return .deny(details: nil) }
        return .of(entitlements: subscriber.entitlements, metadata: subscriber.metadata, resource: resource, denyMessage: denyMessage)
    }

    public func metadata(for subject: Subject) -> [String: MetadataValue]? {
        guard var data = subscriber(userID: subject.userID)?.metadata else { return nil }
        if data["userID"] == nil { data["userID"] = .string(subject.userID) }
        return data
    }
}
