import Audit
import Catalog
import Datasets
import Foundation
import Logging
import S3Protocol
import Storage

/// Copies to the target every object that has no current copy there, in key order, from a
/// durable cursor saved after every batch: a restart re-examines one batch at most, and copies
/// that are current are skipped, never copied again. Then, for a native source, lists the
/// source to find objects written behind the gateway's back and imports them. A key that
/// cannot be copied now is handed to the journal (retried with backoff); a batch where every
/// copy failed pauses the backfill instead (the target is probably down).
public struct Backfill: Sendable {
    let objects: ObjectLayer
    let bucket: String
    static let batch = 64

    var catalog: any Catalog { objects.catalog }

    public init(objects: ObjectLayer, bucket: String) {
        self.objects = objects
        self.bucket = bucket
    }

    public func run() async throws {
        guard let m = try await catalog.migration(bucket), m.phase.mirrors else { return }
        let route = try await objects.route(bucket)
        guard route.mirrors, route.epoch == m.epoch else { return }
        var progress = m.backfill
        progress.runs += 1
        await objects.record(
            AuditEvent(
                time: objects.now(), principal: "gateway", action: "backfill.run", dataset: bucket,
                result: "ok", detail: "run \(progress.runs), stage \(progress.stage.rawValue)"))
        if progress.runs == 1 {
            let usage = try await catalog.usage(bucket: bucket)
            (progress.total, progress.totalBytes) = (usage.objects, usage.bytes)
        }
        try await save(progress, m)
        let limiter = m.bandwidth.map { RateLimiter(bytesPerSecond: $0) }
        if progress.stage == .copy {
            try await copyPass(route, m, &progress, limiter: limiter, durable: true)
            progress.stage = .scan
            progress.cursor = nil
            try await save(progress, m)
        }
        if progress.stage == .scan {
            try await scan(route, m, &progress)
            // Writes that raced the start of mirroring (routed before it, committed after).
            try await copyPass(route, m, &progress, limiter: limiter, durable: false)
            // A versioned dataset's noncurrent versions.
            try await VersionBackfill(objects: objects, bucket: bucket).run(limiter: limiter, parallelism: m.parallelism)
            progress.stage = .done
            progress.cursor = nil
            try await save(progress, m)
            let counted = try await catalog.migration(bucket)?.backfill ?? progress
            await objects.record(
                AuditEvent(
                    time: objects.now(), principal: "gateway", action: "backfill.done", dataset: bucket, bytes: counted.copiedBytes, result: "ok",
                    detail: "\(counted.copied) copied, \(counted.skipped) already current, \(counted.imported) imported"))
            objects.logger.info(
                "backfill done",
                metadata: [
                    "dataset": .string(bucket), "copied": .stringConvertible(counted.copied),
                    "skipped": .stringConvertible(counted.skipped), "imported": .stringConvertible(counted.imported),
                ])
        }
    }

    func save(_ progress: BackfillState, _ m: MigrationRecord) async throws {
        try await catalog.updateBackfill(bucket: bucket, epoch: m.epoch, progress)
    }

    /// One pass over the catalog from the cursor (or from the start when not `durable`), with
    /// `parallelism` transfers always in flight across pages (among twice as many copies, the
    /// others reading the catalog or recording, see `CopySlots`): the cursor moves past a page
    /// once every copy of it, and of the pages before it, is done.
    func copyPass(
        _ route: DatasetRoute, _ m: MigrationRecord, _ progress: inout BackfillState, limiter: RateLimiter?,
        durable: Bool
    ) async throws {
        var from: [UInt8] = durable ? (progress.cursor.map { Array($0.utf8) + [0] } ?? []) : []
        var pass = Pass(progress: progress)
        defer { progress = pass.progress }
        let slots = CopySlots(m.parallelism)
        try await withThrowingTaskGroup(of: Copied.self) { group in
            var inFlight = 0
            while true {
                try Task.checkCancellation()
                let page = try await catalog.objectsWithReplicas(bucket: bucket, from: from, limit: Self.batch)
                guard let last = page.last else { break }
                var stale = page.filter { $0.1?.version != $0.0.version }.map(\.0.key)
                if durable {
                    pass.progress.skipped += page.count - stale.count
                } else {
                    // The last pass is for writes that raced the start of mirroring; a key the
                    // journal already holds (deferred by the first pass, or written since) is its.
                    var unqueued: [String] = []
                    for key in stale where try await catalog.journal(bucket: bucket, key: key) == nil { unqueued.append(key) }
                    stale = unqueued
                }
                let index = pass.open(last: last.0.key, copies: stale.count)
                for key in stale {
                    while inFlight >= 2 * m.parallelism, let done = try await group.next() {
                        inFlight -= 1
                        try await settle(done, &pass, m, durable: durable)
                    }
                    group.addTask {
                        do {
                            return Copied(
                                page: index, key: key, error: nil,
                                outcome: try await objects.replicate(route, key: key, limiter: limiter, backfill: true, slots: slots))
                        } catch {
                            return Copied(page: index, key: key, error: error, outcome: nil)
                        }
                    }
                    inFlight += 1
                }
                try await advance(&pass, m, durable: durable)
                from = Array(last.0.key.utf8) + [0]
                if page.count < Self.batch { break }
            }
            while let done = try await group.next() { try await settle(done, &pass, m, durable: durable) }
        }
    }

    struct Copied: Sendable {
        var page: Int
        var key: String
        var error: (any Error)?
        var outcome: ReplicationOutcome?
    }

    /// Pages of a pass: how many of their copies are still running, and how many failed.
    struct Pass {
        var progress: BackfillState
        var pages: [(last: String, outstanding: Int, copies: Int, failed: Int, error: (any Error)?)] = []
        var firstOpen = 0

        mutating func open(last: String, copies: Int) -> Int {
            pages.append((last, copies, copies, 0, nil))
            return pages.count - 1
        }
    }

    func settle(_ done: Copied, _ pass: inout Pass, _ m: MigrationRecord, durable: Bool) async throws {
        pass.pages[done.page].outstanding -= 1
        if let error = done.error {
            // Retried by the journal workers, with backoff. An outage shows in the pause that
            // follows; a failure of this object alone is said here.
            if !Self.isOutage(error) {
                objects.logger.warning(
                    "backfill could not copy an object; the journal retries it",
                    metadata: ["dataset": .string(bucket), "key": .string(done.key), "error": .string("\(error)")])
            }
            try await catalog.enqueue(bucket: bucket, key: done.key, now: objects.now())
            pass.pages[done.page].failed += 1
            if pass.pages[done.page].error == nil { pass.pages[done.page].error = error }
            pass.progress.failed += 1
        } else if case .copied = done.outcome {
            // Counted by the catalog with the copy.
        } else if durable {
            pass.progress.skipped += 1
        }
        try await advance(&pass, m, durable: durable)
    }

    /// Moves the cursor past the finished pages; a page where every copy failed for want of a
    /// backend pauses the backfill (the target is probably down; the driver restarts it from the
    /// cursor). A copy refused for itself (bytes that differ from the catalog's) stays with the
    /// journal, and the backfill goes on.
    func advance(_ pass: inout Pass, _ m: MigrationRecord, durable: Bool) async throws {
        var moved = false
        while pass.firstOpen < pass.pages.count, pass.pages[pass.firstOpen].outstanding == 0 {
            let page = pass.pages[pass.firstOpen]
            if page.copies > 0, page.failed == page.copies, let error = page.error, Self.isOutage(error) { throw error }
            pass.progress.cursor = page.last
            pass.firstOpen += 1
            moved = true
        }
        if moved && durable { try await save(pass.progress, m) }
    }

    static func isOutage(_ error: any Error) -> Bool {
        if case .unavailable? = error as? StoreError { return true }
        return false
    }

    /// Lists a native source and imports what the catalog does not describe: objects written
    /// straight to the backend, or changed there, behind the gateway's back.
    func scan(_ route: DatasetRoute, _ m: MigrationRecord, _ progress: inout BackfillState) async throws {
        guard let prefix = route.primary.prefix, route.primary.inPlace, let target = route.target else { return }
        var marker = progress.cursor
        repeat {
            try Task.checkCancellation()
            let listing = try await route.primary.store.list(prefix: prefix, marker: marker, limit: 1000)
            for stored in listing.objects where stored.name.hasPrefix(prefix) {
                let key = String(stored.name.dropFirst(prefix.count))
                guard Names.keyProblem(key) == nil, !route.primary.reserves(key: key) else { continue }
                let known = try await catalog.object(bucket: bucket, key: key)
                // A version kept aside has only a shadow under its key, whose ETag is not recorded.
                if let known, route.primary.isRelocated(known) { continue }
                guard known == nil || (stored.etag != nil && known?.backendETag != nil && known?.backendETag != stored.etag) else { continue }
                if try await importObject(stored, key: key, route: route, target: target, epoch: m.epoch) {
                    progress.imported += 1
                }
            }
            marker = listing.nextMarker
            progress.cursor = marker
            try await save(progress, m)
        } while marker != nil
    }

    /// Adopts a backend object as the catalog's object of `key`, copying it to the target on
    /// the way (its MD5, computed then, becomes its ETag).
    func importObject(_ stored: StoredObject, key: String, route: DatasetRoute, target: ResolvedPlacement, epoch: Int) async throws -> Bool {
        try await objects.locks.with(ObjectLayer.lockName(bucket, key)) {
            let known = try await catalog.object(bucket: bucket, key: key)
            guard let fresh = try await route.primary.store.head(name: stored.name),
                known == nil || known?.backendETag != fresh.etag
            else { return false }
            var record = ObjectRecord(
                bucket: bucket, key: key, size: fresh.size, etag: "", lastModified: objects.now(), headers: ObjectHeaders(),
                checksum: nil, checksumType: nil, blob: stored.name, partsCount: nil, backendETag: fresh.etag)
            var copy = try await objects.copyToTarget(record, from: route.primary, to: target, name: route.targetName(for: key), limiter: nil)
            record.etag = "\"\(copy.md5 ?? "")\""
            let observed = known?.backendETag
            let result = try await catalog.putObject(record, mirror: MirrorCommit(epoch: epoch, target: .written(copy))) { current in
                guard current?.backendETag == observed else { throw CatalogError.routingChanged }
            }
            copy.version = result.version
            await objects.updateTargetShadowOrQueue(route, key: key)
            if let replaced = result.replacedReplica, target.owns(replaced, of: key) { await objects.discard(target.names(of: replaced), in: target) }
            objects.logger.info("imported an object written behind the gateway's back", metadata: ["dataset": .string(bucket), "key": .string(key)])
            return true
        }
    }
}
