import Audit
import Catalog
import Foundation
import Logging
import Storage

/// The object layer (DESIGN.md §2; MinIO's `ObjectLayer` is the model): datasets and their
/// placements, objects read as plaintext and stored (sealed where the placement says so),
/// writes serialised per key with their intents, commits mirrored to a migration target, reads
/// in cutover with fallback and read-repair. The S3 front door parses, authorises and formats
/// around it; replication uses it; it knows nothing of HTTP.
public struct ObjectLayer: Sendable {
    public let catalog: any Catalog
    public let backends: BackendRegistry
    public let locks: any KeyLocking
    public let observer: any ObjectLayerObserver
    /// Where transfers to migration targets are recorded (nil: not audited, as in a test).
    public let audit: (any AuditRecording)?
    public let logger: Logger
    public let now: @Sendable () -> Date
    /// This process, as the intents it records name it (empty: no owner, the CLI).
    public let owner: String

    public init(
        catalog: any Catalog, backends: BackendRegistry, locks: any KeyLocking = InProcessKeyLocks(),
        observer: any ObjectLayerObserver = SilentObserver(), audit: (any AuditRecording)? = nil, owner: String = "",
        logger: Logger, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.owner = owner
        self.catalog = catalog
        self.backends = backends
        self.locks = locks
        self.observer = observer
        self.audit = audit
        self.logger = logger
        self.now = now
    }

    /// Records an action of the gateway's own (a copy to a migration target, a backfill run);
    /// the action has happened, so a failure to record it can only be logged.
    public func record(_ event: AuditEvent) async {
        guard let audit else { return }
        do { try await audit.record([event]) } catch {
            logger.error("could not record an event in the audit log", metadata: ["action": .string(event.action), "error": .string("\(error)")])
        }
    }

    /// The name of the lock that serialises the writes of a key.
    public static func lockName(_ dataset: String, _ key: String) -> String { dataset + "\u{0}" + key }
}

/// Where one request of a dataset goes (DESIGN.md §3), read from the catalog for every request
/// so a phase change by the CLI applies at once: the primary placement (the source while
/// migrating, the target once retired) and, while the dataset mirrors, the target.
public struct DatasetRoute: Sendable {
    public let bucket: BucketRecord
    public let primary: ResolvedPlacement
    public let migration: MigrationRecord?
    /// Set while writes are mirrored (phases mirroring, verified, cutover).
    public let target: ResolvedPlacement?

    public var name: String { bucket.name }
    public var epoch: Int? { migration?.epoch }
    public var mirrors: Bool { target != nil }
    public var sync: Bool { mirrors && migration?.mode == .sync }
    public var readsFromTarget: Bool { mirrors && migration?.phase == .cutover }

    /// The commit of a write routed here whose target copy follows later (journal).
    public var pending: MirrorCommit { MirrorCommit(epoch: epoch ?? 0) }
}

extension ObjectLayer {
    /// The dataset, or `noSuchDataset`.
    public func dataset(_ name: String) async throws -> BucketRecord {
        guard let b = try await catalog.bucket(name) else { throw DatasetError.noSuchDataset(name) }
        return b
    }

    public func route(_ name: String) async throws -> DatasetRoute {
        try await route(try await dataset(name))
    }

    public func route(_ b: BucketRecord) async throws -> DatasetRoute {
        try route(b, migration: try await catalog.migration(b.name))
    }

    func route(_ b: BucketRecord, migration m: MigrationRecord?) throws -> DatasetRoute {
        let primary = try backends.resolve(m?.primary ?? b.placement, dataset: b.name)
        let target = try m.flatMap { m in m.phase.mirrors ? try backends.resolve(m.target, dataset: b.name) : nil }
        return DatasetRoute(bucket: b, primary: primary, migration: m, target: target)
    }

    /// The route of a dataset that mirrors now, else nil (the dataset is gone or not migrating).
    public func routeIfMirroring(_ name: String) async throws -> DatasetRoute? {
        guard let b = try await catalog.bucket(name) else { return nil }
        let r = try await route(b)
        return r.mirrors ? r : nil
    }
}
