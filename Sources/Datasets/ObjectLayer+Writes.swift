import Catalog
import Foundation
import NIOCore
import S3Protocol
import Sealing
import Storage

/// Writes and deletes of objects: serialised per key where they must be, with their intents,
/// committed with their mirroring.
extension ObjectLayer {
    /// Runs a write or delete of `key`. `precondition` is checked first, before any body is
    /// read (the commit checks it again atomically). On a placement that rewrites objects in
    /// place, writes of one key are serialised, the check happens under that lock (so it holds
    /// when the backend object changes), and an intent is recorded first: the commit clears it;
    /// a failure or a crash leaves it for `Reconciler` to settle. While a dataset mirrors, every
    /// write of a key is serialised too, with the replication copies of it, so no copy of an
    /// older version lands after a newer one.
    public func exclusive<T: Sendable>(
        _ route: DatasetRoute, key: String, precondition: WritePrecondition? = nil,
        _ body: @Sendable () async throws -> T
    ) async throws -> T {
        let (placement, bucket, catalog) = (route.primary, route.name, catalog)
        try requireWritable(placement, key: key)
        @Sendable func check() async throws {
            guard let precondition else { return }
            try precondition(try await catalog.object(bucket: bucket, key: key))
        }
        guard placement.inPlace || route.mirrors else {
            try await check()
            return try await body()
        }
        return try await locks.with(Self.lockName(bucket, key)) {
            try await check()
            guard placement.inPlace else { return try await body() }
            try await catalog.beginIntent(bucket: bucket, key: key, owner: owner, now: now())
            do {
                let result = try await body()
                try await catalog.endIntent(bucket: bucket, key: key)
                return result
            } catch CatalogError.routingChanged {
                // The source was detached meanwhile: the catalog describes the target, which
                // this write never touched; what it left on the detached source is nobody's.
                try await catalog.endIntent(bucket: bucket, key: key)
                throw CatalogError.routingChanged
            } catch {
                await Reconciler(catalog: catalog, logger: logger).settle(bucket: bucket, key: key, placement: placement)
                throw error
            }
        }
    }

    /// Makes `record` the object in the catalog (a sealed one gets its header object first); a
    /// blob it replaces (fresh-id placements) is removed, and a new blob is removed again if the
    /// commit fails. A target copy the commit makes obsolete is removed too. Returns the record
    /// as committed (with its version).
    @discardableResult
    public func commit(
        _ record: ObjectRecord, route: DatasetRoute, mirror: MirrorCommit, precondition: WritePrecondition?
    ) async throws -> ObjectRecord {
        let placement = route.primary
        try await writeHeader(record, in: placement)
        let result: WriteResult
        do {
            result = try await catalog.putObject(record, mirror: mirror) { current in try precondition?(current) }
        } catch {
            if !placement.inPlace { await discard(placement.names(of: record.blob), in: placement) }
            throw error
        }
        if let replaced = result.replaced { await discard(placement.names(of: replaced), in: placement) }
        await discardReplaced(result.replacedReplica, key: record.key, route: route)
        var committed = record
        committed.version = result.version
        committed.versioned = result.versioned
        return committed
    }

    func discardReplaced(_ blob: String?, key: String, route: DatasetRoute) async {
        if let blob, let target = route.target, target.owns(blob, of: key) { await discard(target.names(of: blob), in: target) }
    }

    /// Stores `body` as the object `key` and commits it; in sync mode the target copy too.
    public func put<Bytes>(
        _ route: DatasetRoute, key: String, headers: ObjectHeaders, body: IncomingBody<Bytes>,
        precondition: WritePrecondition?
    ) async throws -> ObjectRecord {
        try await exclusive(route, key: key, precondition: precondition) {
            try await keepAside(route, key: key)
            if route.sync, let target = route.target {
                return try await putBothCopies(route, target: target, key: key, headers: headers, body: body, precondition: precondition)
            }
            let placement = route.primary
            let sealing = try placement.sealer?.newObject()
            let (stored, digests) = try await receive(body, into: placement, name: placement.name(for: key), headers: headers, sealing: sealing?.0)
            let record = newRecord(route.name, key, headers: headers, digests: digests, stored: stored, seal: sealing?.1)
            return try await commit(record, route: route, mirror: route.pending, precondition: precondition)
        }
    }

    func newRecord(
        _ bucket: String, _ key: String, headers: ObjectHeaders, digests: BodyDigests, stored: StoredObject,
        seal: SealRecord?
    ) -> ObjectRecord {
        ObjectRecord(
            bucket: bucket, key: key, size: digests.length, etag: ETag.quoted(md5: digests.md5), lastModified: now(),
            headers: headers, checksum: digests.checksum, checksumType: digests.checksum == nil ? nil : "FULL_OBJECT",
            blob: stored.name, partsCount: nil, backendETag: stored.etag, seal: seal?.single(size: digests.length))
    }

    /// Streams a verified body into `name`; its digests are checked against the MD5 the
    /// backend reports for what it stored.
    func receive<Bytes>(
        _ body: IncomingBody<Bytes>, into placement: ResolvedPlacement, name: String, headers: ObjectHeaders,
        sealing keys: ObjectKeys?
    ) async throws -> (StoredObject, BodyDigests) {
        let stored = try await storeObject(
            placement, name: name, length: body.length, body: body.bytes,
            attributes: headers.attributes, sealing: keys)
        let digests = try body.digests()
        if let md5 = stored.md5, md5 != digests.md5 {
            throw StoreError.io("the backend stored bytes whose MD5 differs from what the client sent")
        }
        return (stored, digests)
    }

    /// A PUT in sync mode: the body goes to the target first, then from there to the source,
    /// then one catalog commit records both. A target that cannot take it fails the write with
    /// `targetUnavailable` before the source is touched, so nothing is half-written.
    func putBothCopies<Bytes>(
        _ route: DatasetRoute, target: ResolvedPlacement, key: String, headers: ObjectHeaders,
        body: IncomingBody<Bytes>, precondition: WritePrecondition?
    ) async throws -> ObjectRecord {
        let sealing = try target.sealer?.newObject()
        // An in-place target copy is replaced before the commit: until then the key is queued,
        // so a crash in between has it copied again.
        let name = route.targetName(for: key) ?? target.name(for: key)
        if !target.owns(name, of: key) { try await catalog.enqueue(bucket: route.name, key: key, now: now()) }
        var copy: ObjectRecord
        do {
            let (stored, digests) = try await receive(body, into: target, name: name, headers: headers, sealing: sealing?.0)
            copy = newRecord(route.name, key, headers: headers, digests: digests, stored: stored, seal: sealing?.1)
            try await writeHeader(copy, in: target)
        } catch let error as StoreError {
            logger.error(
                "sync write refused: migration target failed", metadata: ["dataset": .string(route.name), "error": .string(error.description)])
            observer.replicationFailure(backend: route.migration?.target.backend ?? "")
            try? await catalog.recordReplicationFailure(bucket: route.name, at: now())
            throw DatasetError(.targetUnavailable, dataset: route.name, key: key, subject: "write", "\(error)")
        }
        let replica = ReplicaRecord(
            bucket: route.name, key: key, version: 0, blob: copy.blob, backendETag: copy.backendETag,
            seal: copy.seal, md5: ETag.md5(of: copy.etag).map { Hex.encode($0) })
        do {
            let placement = route.primary
            let sealing = try placement.sealer?.newObject()
            let stored = try await storeObject(
                placement, name: placement.name(for: key), length: copy.size,
                body: try await openPlain(copy, range: nil, in: target), attributes: placement.attributes(headers),
                sealing: sealing?.0)
            var record = copy
            record.blob = stored.name
            record.backendETag = stored.etag
            record.seal = sealing?.1.single(size: copy.size)
            let committed = try await commit(
                record, route: route, mirror: MirrorCommit(epoch: route.epoch, target: .written(replica)),
                precondition: precondition)
            await updateTargetShadowOrQueue(route, key: key)
            return committed
        } catch {
            if target.owns(copy.blob, of: key) { await discard(target.names(of: copy.blob), in: target) }
            throw error
        }
    }

    /// Deletes one object. In place, the backend object goes first, so a backend that cannot
    /// delete leaves the catalog (and the client's view) unchanged; otherwise the catalog goes
    /// first and the blob after. In sync mode the target copy goes before anything else
    /// (unless the dataset is versioned).
    /// With `ifVersion`, only that version of the key is deleted (`deleted`: whether it was).
    /// On a versioned dataset a delete marker is written (`marker`) and the object kept as a
    /// noncurrent version.
    @discardableResult
    public func delete(_ route: DatasetRoute, key: String, ifVersion: Int64? = nil) async throws -> (deleted: Bool, marker: ObjectRecord?) {
        let (placement, bucket) = (route.primary, route.name)
        return try await exclusive(route, key: key) {
            if let ifVersion, placement.inPlace || route.sync {
                // These delete backend objects before the catalog row, under the key's lock
                // (which every write of the key takes here): check the version first. Otherwise
                // the catalog's own condition below decides.
                guard try await catalog.object(bucket: bucket, key: key)?.version == ifVersion else { return (false, nil) }
            }
            var mirror = route.pending
            // On a versioned dataset the target copy stays: it becomes the noncurrent version's
            // copy (or, replaced by a `null` marker, is discarded after the commit).
            if route.sync, let target = route.target, route.bucket.versioning == nil {
                if let replica = try await catalog.replica(bucket: bucket, key: key) {
                    do {
                        try await target.store.delete(names: target.names(of: replica.blob))
                    } catch {
                        try? await catalog.recordReplicationFailure(bucket: bucket, at: now())
                        throw DatasetError(.targetUnavailable, dataset: bucket, key: key, subject: "delete", "\(error)")
                    }
                }
                mirror.target = .removed
            }
            if placement.inPlace {
                // The backend object under the key goes first (a version the catalog keeps
                // having been copied aside); a delete on a versioned dataset writes a marker
                // even when the key has no current object.
                let versioned = route.bucket.versioning != nil
                try await keepAside(route, key: key)
                let record = try await catalog.object(bucket: bucket, key: key)
                guard record != nil || versioned else { return (ifVersion == nil, nil) }
                let name = placement.name(for: key)
                if record != nil { try await placement.store.delete(name: name) }
                let done = try await catalog.deleteObject(bucket: bucket, key: key, mirror: mirror, ifVersion: ifVersion)
                if let blob = done.blob, placement.owns(blob, of: key) { await discard([blob], in: placement) }
                if !versioned, let record, done.marker != nil {
                    // Versioning was turned on meanwhile: the version kept has no bytes left.
                    _ = try await catalog.deleteVersion(bucket: bucket, key: key, version: record.versionID) { _ in }
                }
                if done.marker != nil { await discardReplaced(done.replica, key: key, route: route) }
                await updateTargetShadowOrQueue(route, key: key)
                return (true, done.marker)
            } else {
                let done = try await catalog.deleteObject(bucket: bucket, key: key, mirror: mirror, ifVersion: ifVersion)
                if let blob = done.blob { await discard(placement.names(of: blob), in: placement) }
                if done.marker != nil { await discardReplaced(done.replica, key: key, route: route) }
                await updateTargetShadowOrQueue(route, key: key)
                return (ifVersion == nil || done.blob != nil || done.marker != nil, done.marker)
            }
        }
    }

    /// Deletes one version for good (S3 DELETE with `versionId`); returns it, nil when the key
    /// has no such version. On a dataset never versioned, the `null` version is the object. A
    /// version Object Lock protects is kept (`locked`): under legal hold or COMPLIANCE
    /// retention from everyone, under GOVERNANCE retention unless `bypassGovernance`.
    @discardableResult
    public func deleteVersion(
        _ route: DatasetRoute, key: String, version: VersionID, bypassGovernance: Bool = false
    ) async throws -> ObjectRecord? {
        guard route.bucket.versioning != nil else {
            guard version == .null, let current = try await catalog.object(bucket: route.name, key: key) else { return nil }
            return try await delete(route, key: key, ifVersion: current.version).deleted ? current : nil
        }
        let placement = route.primary
        return try await exclusive(route, key: key) {
            let now = now()
            let before = placement.inPlace ? try await catalog.object(bucket: route.name, key: key) : nil
            let done = try await catalog.deleteVersion(bucket: route.name, key: key, version: version) { r in
                if let why = r.headers.lock?.refusal(now: now, bypassGovernance: bypassGovernance) {
                    throw DatasetError(.locked, dataset: route.name, key: key, why)
                }
            }
            if let blob = done.blob, placement.owns(blob, of: key) { await discard(placement.names(of: blob), in: placement) }
            await discardReplaced(done.replica, key: key, route: route)
            await updateTargetShadowOrQueue(route, key: key)
            if placement.inPlace, done.removed != nil {
                let after = try await catalog.object(bucket: route.name, key: key)
                if after?.version != before?.version {
                    // The key's current version changed: the backend object under the key
                    // follows (the commit settled the intent; it is taken again until then).
                    try await catalog.beginIntent(bucket: route.name, key: key, owner: owner, now: now)
                    try await placement.shadow(after, key: key)
                }
            }
            return done.removed
        }
    }

    /// Copies the object `source` (of `sourceRoute`'s dataset) to `key` of `route`'s dataset,
    /// with `headers`: as the backend's own copy where both are one container under the same
    /// keys, else through plaintext (sealed again under the destination's keys). In sync mode
    /// the target copy is made before this returns, or queued if the target fails.
    public func copy(
        _ source: ObjectRecord, from sourceRoute: DatasetRoute, to route: DatasetRoute, key: String, headers: ObjectHeaders,
        precondition: WritePrecondition?
    ) async throws -> ObjectRecord {
        let placement = route.primary
        let (origin, target, sourcePlacement) = (sourceRoute.bucket, route.bucket, sourceRoute.primary)
        let record = try await exclusive(route, key: key, precondition: precondition) {
            try await keepAside(route, key: key)
            let name = placement.name(for: key)
            let stored: StoredObject
            var seal = source.seal
            let sameContainer = origin.placement.backend == target.placement.backend && origin.placement.container == target.placement.container
            // Sealed bytes can be copied as they are within one dataset: same KEK, same DEK.
            let sameKeys = origin.placement.sealed == target.placement.sealed && (!target.placement.sealed || origin.name == target.name)
            if sameContainer && sameKeys && name == source.blob {
                // Same backend object (a metadata-only self-copy): nothing to move.
                stored = StoredObject(name: name, size: source.size, etag: source.backendETag)
            } else if sameContainer && sameKeys && placement.store.capabilities.serverSideCopy {
                stored = try await placement.store.copy(
                    from: source.blob, to: name, length: source.storedLength, attributes: placement.attributes(headers))
            } else {
                let sealing = try placement.sealer?.newObject()
                let stream = try await openPlain(source, range: nil, in: sourcePlacement)
                stored = try await storeObject(
                    placement, name: name, length: source.size, body: stream, attributes: headers.attributes,
                    sealing: sealing?.0)
                seal = sealing?.1.single(size: source.size)
            }
            var record = source
            record.bucket = route.name
            record.key = key
            record.headers = headers
            record.blob = stored.name
            record.backendETag = stored.etag
            record.lastModified = now()
            record.seal = seal
            return try await commit(record, route: route, mirror: route.pending, precondition: precondition)
        }
        await replicateNow(route, key: key)
        return record
    }

    /// After a copy or a multipart completion in sync mode (committed with the key journaled),
    /// the target copy is made before the answer; if the target fails, the journal keeps the
    /// key and the workers retry.
    func replicateNow(_ route: DatasetRoute, key: String) async {
        guard route.sync else { return }
        do {
            _ = try await replicate(route, key: key)
            if let e = try await catalog.journal(bucket: route.name, key: key) { try await catalog.finishJournal(e) }
        } catch {
            logger.warning(
                "sync replication deferred to the journal",
                metadata: [
                    "dataset": .string(route.name), "key": .string(key),
                    "error": .string("\(error)"),
                ])
        }
    }
}
