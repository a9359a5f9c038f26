import Catalog
import Logging
import Storage

/// Settles keys whose in-place write or delete did not finish (an intent left in the catalog):
/// the backend object changes before the catalog row, so a crash or a failure in between can
/// leave them disagreeing. The catalog is made to describe what the backend holds:
/// - backend object as recorded (or both absent): nothing to do;
/// - backend object gone, row present: a delete stopped half-way, the row goes too;
/// - backend object the catalog does not describe: a write never acknowledged to its client
///   replaced it; that object is deleted with the row (the older version's bytes are gone);
/// - row relocated (a version kept aside, `InPlaceVersions.swift`): the backend object under
///   the key, whatever it holds, becomes a copy of it again (an unacknowledged write undone).
/// A backend that cannot be reached leaves the intent for the next start.
public struct Reconciler: Sendable {
    let catalog: any Catalog
    let logger: Logger

    public init(catalog: any Catalog, logger: Logger) {
        self.catalog = catalog
        self.logger = logger
    }

    public enum Outcome: Equatable, Sendable { case consistent, finishedDelete, removedUnacknowledged, restoredShadow }

    /// What to do, from the catalog row's recorded backend ETag and the backend's object (a
    /// relocated row: `stored` is only its shadow, whatever it holds).
    public static func decide(recorded: ObjectRecord?, stored: StoredObject?, relocated: Bool = false) -> Outcome {
        if recorded != nil, relocated { return .restoredShadow }
        return switch (recorded, stored) {
        case (nil, nil): .consistent
        case (.some, nil): .finishedDelete
        case (nil, .some): .removedUnacknowledged
        case (let r?, let s?): r.backendETag == nil || r.backendETag == s.etag ? .consistent : .removedUnacknowledged
        }
    }

    func settle(bucket: String, key: String, placement: ResolvedPlacement) async {
        do {
            // Intents only concern in-place placements; one left from before the dataset moved
            // (its source retired) says nothing about where it lives now.
            guard placement.inPlace else {
                try await catalog.endIntent(bucket: bucket, key: key)
                return
            }
            let name = placement.name(for: key)
            let record = try await catalog.object(bucket: bucket, key: key)
            let outcome = Self.decide(
                recorded: record, stored: try await placement.store.head(name: name), relocated: record.map(placement.isRelocated) ?? false)
            switch outcome {
            case .consistent: break
            case .finishedDelete:
                _ = try await catalog.deleteObject(bucket: bucket, key: key)
            case .removedUnacknowledged:
                try await placement.store.delete(name: name)
                // With no row there is nothing to delete (on a versioned dataset a delete would write a marker).
                if record != nil { _ = try await catalog.deleteObject(bucket: bucket, key: key) }
            case .restoredShadow:
                try await placement.shadow(record, key: key)
            }
            try await catalog.endIntent(bucket: bucket, key: key)
            if outcome != .consistent {
                logger.warning(
                    "reconciled an interrupted write", metadata: ["bucket": .string(bucket), "key": .string(key), "outcome": .string("\(outcome)")])
            }
        } catch {
            logger.warning(
                "could not reconcile an interrupted write yet",
                metadata: ["bucket": .string(bucket), "key": .string(key), "error": .string("\(error)")])
        }
    }

    /// Settles every intent an earlier process of gateway `gateway` left behind (at start), and
    /// those that name no owner (written before owners were kept, or by the CLI). Other
    /// gateways' intents are theirs to settle.
    public func settleAll(backends: BackendRegistry, ownedBy gateway: String) async throws {
        for intent in try await catalog.intents() where intent.owner.isEmpty || intent.owner.hasPrefix(gateway + "/") {
            let (bucket, key) = (intent.bucket, intent.key)
            guard let record = try await catalog.bucket(bucket) else {
                try await catalog.endIntent(bucket: bucket, key: key)
                continue
            }
            await settle(bucket: bucket, key: key, placement: try backends.resolve(record.placement, dataset: bucket))
        }
    }
}
