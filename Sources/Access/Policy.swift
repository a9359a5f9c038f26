import Foundation

/// What a request does to a dataset, in grant terms.
public enum AccessAction: String, Sendable, CaseIterable, Codable {
    case read, list, write, delete
}

/// A project's right on a dataset, or on the keys under a prefix of it.
public struct Grant: Sendable, Equatable, Codable {
    public var dataset: String
    public var prefix: String
    public var actions: Set<AccessAction>

    public init(dataset: String, prefix: String = "", actions: Set<AccessAction>) {
        self.dataset = dataset
        self.prefix = prefix
        self.actions = actions
    }
}

public struct Project: Sendable, Equatable {
    public var name: String
    public var purpose: String
    public var expires: Date
    public var members: Set<String>
    public var grants: [Grant]
    /// Declared working hours (UTC, start..<end), for the off-hours anomaly rule.
    public var hours: Range<Int>?

    public init(name: String, purpose: String, expires: Date, members: Set<String> = [], grants: [Grant] = [], hours: Range<Int>? = nil) {
        self.name = name
        self.purpose = purpose
        self.expires = expires
        self.members = members
        self.grants = grants
        self.hours = hours
    }
}

/// Who is asking.
public enum Principal: Sendable, Equatable {
    /// Root and service keys: operations, audited, not subject to grants.
    case staff(String)
    case session(SessionClaims)

    public var name: String {
        switch self {
        case .staff(let n): n
        case .session(let c): c.user
        }
    }

    public var project: String? {
        if case .session(let c) = self { return c.project }
        return nil
    }
}

/// One request, as the policy sees it.
public struct AccessRequest: Sendable, Equatable {
    public enum Scope: Sendable, Equatable {
        /// Creating or deleting datasets and other administration.
        case administration
        /// Listing the datasets (answered with the granted ones only).
        case service
        /// A dataset as a whole (`key` nil) or one key / listing prefix of it.
        case dataset(String, key: String?)
    }

    public var action: AccessAction
    public var scope: Scope

    public init(_ action: AccessAction, _ scope: Scope) {
        self.action = action
        self.scope = scope
    }
}

public enum Decision: Sendable, Equatable {
    case allow
    case deny(String)
}

/// The policy decision, pure: the same inputs always give the same answer, and the clock is
/// an input, so an expired project loses access on the first request after its expiry.
public enum Policy {
    /// `user` is the session user's current state (nil: unknown user); `project` the session's
    /// project as the catalog holds it now (nil: deleted).
    public static func decide(_ principal: Principal, _ request: AccessRequest, project: Project?, userActive: Bool, now: Date) -> Decision {
        guard case .session(let claims) = principal else { return .allow }
        guard userActive else { return .deny("user \(claims.user) is disabled or unknown") }
        guard let project, project.name == claims.project else { return .deny("project \(claims.project) does not exist") }
        guard now < project.expires else { return .deny("project \(project.name) expired on \(project.expires.formatted(.iso8601))") }
        guard project.members.contains(claims.user) else { return .deny("user \(claims.user) is no longer a member of \(project.name)") }
        switch request.scope {
        case .administration:
            return .deny("project sessions cannot administer datasets")
        case .service:
            return .allow
        case .dataset(let dataset, let key):
            let grants = project.grants.filter { $0.dataset == dataset && $0.actions.contains(request.action) }
            let covered = grants.contains { g in
                // A request on the dataset as a whole (HeadBucket, DeleteObjects before its
                // per-key checks) needs the action somewhere in it.
                guard let key else { return true }
                return key.hasPrefix(g.prefix)
            }
            return covered
                ? .allow : .deny("project \(project.name) has no \(request.action.rawValue) grant on \(dataset)\(key.map { "/" + $0 } ?? "")")
        }
    }

    /// The datasets a principal may see in ListBuckets (nil: all).
    public static func visibleDatasets(_ principal: Principal, project: Project?) -> Set<String>? {
        guard case .session = principal else { return nil }
        return Set(project?.grants.map(\.dataset) ?? [])
    }
}
