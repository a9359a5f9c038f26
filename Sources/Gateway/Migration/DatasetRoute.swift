import Catalog
import Foundation
import S3Protocol

/// Where one request of a dataset goes (DESIGN.md §3), read from the catalog for every request
/// so a phase change by the CLI applies at once: the primary placement (the source while
/// migrating, the target once retired) and, while the dataset mirrors, the target.
struct DatasetRoute: Sendable {
    let bucket: BucketRecord
    let primary: ResolvedPlacement
    let migration: MigrationRecord?
    /// Set while writes are mirrored (phases mirroring, verified, cutover).
    let target: ResolvedPlacement?

    var epoch: Int? { migration?.epoch }
    var mirrors: Bool { target != nil }
    var sync: Bool { mirrors && migration?.mode == .sync }
    var readsFromTarget: Bool { mirrors && migration?.phase == .cutover }

    /// The commit of a write routed here whose target copy follows later (journal).
    var pending: MirrorCommit { MirrorCommit(epoch: epoch ?? 0) }
}

extension S3Responder {
    func route(_ name: String) async throws -> DatasetRoute {
        let b = try await requireBucket(name)
        return try await route(b)
    }

    func route(_ b: BucketRecord) async throws -> DatasetRoute {
        let m = try await state.catalog.migration(b.name)
        let primary = try state.backends.resolve(m?.primary ?? b.placement, dataset: b.name)
        let target = try m.flatMap { m in m.phase.mirrors ? try state.backends.resolve(m.target, dataset: b.name) : nil }
        return DatasetRoute(bucket: b, primary: primary, migration: m, target: target)
    }

    /// The dataset and the placement its objects are read from and written to first.
    func requireDataset(_ name: String) async throws -> (BucketRecord, ResolvedPlacement) {
        let r = try await route(name)
        return (r.bucket, r.primary)
    }

    /// `x-amz-replication-status` of an object of a mirrored dataset, as AWS reports it on the
    /// source object: COMPLETED once the target holds this version, FAILED when its replication
    /// was dead-lettered, PENDING otherwise.
    func replicationStatus(_ record: ObjectRecord, replica: ReplicaRecord?, route: DatasetRoute) async throws -> String? {
        guard route.mirrors else { return nil }
        if let r = replica, r.version == record.version { return "COMPLETED" }
        if let j = try await state.catalog.journal(bucket: record.bucket, key: record.key), j.dead { return "FAILED" }
        return "PENDING"
    }
}
