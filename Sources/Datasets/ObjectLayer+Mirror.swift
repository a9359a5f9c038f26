import Audit
import Catalog
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import S3Protocol
import Storage

/// Paces the bytes of copies (a backfill's bandwidth limit).
public protocol BandwidthLimiting: Sendable {
    /// Waits until `bytes` may go.
    func take(_ bytes: Int) async throws
}

/// Bounds the transfers in flight (a backfill's parallelism): a copy holds a slot only while
/// its bytes travel.
public protocol TransferSlots: Sendable {
    func with<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T
}

/// What bringing one key's target copy in line came to.
public enum ReplicationOutcome: Sendable, Equatable {
    case copied(Int64)
    case current
    case deleted
    /// A newer write changed the key during the copy; its own replication follows.
    case superseded
    case absent
}

/// Copies to a migration target: the one operation behind the journal workers, the
/// backfill, read-repair and sync writes.
extension ObjectLayer {
    /// Brings the target copy of `key` in line with the catalog. It runs under the key's lock,
    /// so it never races a write of the same key, and it records a copy only if the object
    /// still has the version it copied: a newer version is never overwritten by an older one.
    /// Every transfer to the target is in the audit log, recorded once the target holds (or no
    /// longer holds) the bytes and *before* the catalog records it: a crash in between can only
    /// leave an entry for a copy that is then made again, never a recorded copy without its entry.
    public func replicate(
        _ route: DatasetRoute, key: String, limiter: (any BandwidthLimiting)? = nil, backfill: Bool = false,
        slots: (any TransferSlots)? = nil
    ) async throws -> ReplicationOutcome {
        guard let target = route.target else { return .absent }
        let bucket = route.name
        @Sendable func audit(_ action: String, bytes: Int64? = nil, detail: String? = nil) async {
            await record(
                AuditEvent(
                    time: now(), principal: "gateway", action: action, dataset: bucket, key: key, bytes: bytes,
                    result: "ok", detail: detail))
        }
        return try await locks.with(Self.lockName(bucket, key)) {
            let object = try await catalog.object(bucket: bucket, key: key)
            let replica = try await catalog.replica(bucket: bucket, key: key)
            guard let object else {
                try await updateTargetShadow(route, key: key)
                guard let replica else { return .absent }
                try await target.store.delete(names: target.names(of: replica.blob))
                await audit("replicate.delete")
                _ = try await catalog.dropReplica(bucket: bucket, key: key, version: replica.version)
                return .deleted
            }
            if replica?.version == object.version {
                try await updateTargetShadow(route, key: key)
                return .current
            }
            if target.inPlace, !route.targetKeepsVersionsApart, replica != nil {
                // The copy replaces the recorded one in place: forget it first, so a crash
                // half-way leaves "no copy" (copied again) rather than a wrong record.
                _ = try await catalog.dropReplica(bucket: bucket, key: key, version: nil)
            }
            let transfer: @Sendable () async throws -> ReplicaRecord = {
                try await copyToTarget(object, from: route.primary, to: target, name: route.targetName(for: key), limiter: limiter)
            }
            let copy: ReplicaRecord
            if let slots { copy = try await slots.with(transfer) } else { copy = try await transfer() }
            await audit("replicate", bytes: object.size, detail: backfill ? "backfill" : "mirror")
            let (committed, replaced) = try await catalog.commitReplica(copy, size: backfill ? object.size : nil)
            guard committed else {
                if target.owns(copy.blob, of: key) { await discard(target.names(of: copy.blob), in: target) }
                return .superseded
            }
            if let replaced, target.owns(replaced, of: key) { await discard(target.names(of: replaced), in: target) }
            try await updateTargetShadow(route, key: key)
            observer.copied(bytes: object.size)
            return .copied(object.size)
        }
    }

    /// Copies a noncurrent version to the migration target (the version backfill) and records
    /// the copy if the version still exists; no key lock is needed, a noncurrent version's
    /// bytes never change. Returns whether a copy was recorded.
    public func copyVersion(
        _ route: DatasetRoute, _ version: ObjectRecord, limiter: (any BandwidthLimiting)? = nil, slots: (any TransferSlots)? = nil
    ) async throws -> Bool {
        guard let target = route.target, let epoch = route.epoch, !target.inPlace || route.targetKeepsVersionsApart else { return false }
        let transfer: @Sendable () async throws -> ReplicaRecord = {
            try await copyToTarget(version, from: route.primary, to: target, name: route.targetName(for: version.key), limiter: limiter)
        }
        let copy: ReplicaRecord
        if let slots { copy = try await slots.with(transfer) } else { copy = try await transfer() }
        await record(
            AuditEvent(
                time: now(), principal: "gateway", action: "replicate", dataset: route.name, key: version.key,
                version: version.versionID.description, bytes: version.size, result: "ok", detail: "backfill, noncurrent version"))
        guard try await catalog.commitVersionCopy(copy, epoch: epoch) else {
            await discard(target.names(of: copy.blob), in: target)
            return false
        }
        observer.copied(bytes: version.size)
        return true
    }

    /// Copies the plaintext of `object` to `target` (sealed there under fresh keys when the
    /// target is sealed), as `name` (nil: the target's name for the key); checks it against the
    /// object's MD5 ETag on the way.
    public func copyToTarget(
        _ object: ObjectRecord, from source: ResolvedPlacement, to target: ResolvedPlacement, name: String? = nil,
        limiter: (any BandwidthLimiting)?
    ) async throws -> ReplicaRecord {
        let sealing = try target.sealer?.newObject()
        let seal = sealing?.1.single(size: object.size)
        let placed = {
            var r = object
            r.blob = name ?? target.name(for: object.key)
            r.seal = seal
            return r
        }()
        // A sealed copy's header depends on nothing the copy computes: it is written alongside.
        async let header: Void = {
            if let sealer = target.sealer, let seal { try await sealer.writeHeader(for: placed, seal: seal, to: target.store) }
        }()
        let digests = CopyBody<BlobStream>.Digests()
        let stored: StoredObject
        do {
            // A plaintext copy to a backend that checks Content-MD5 carries the catalog's MD5:
            // the backend refuses bytes that differ from it, and nothing is hashed here.
            var attributes = target.attributes(object.headers)
            let etagMD5 = ETag.md5(of: object.etag)
            let targetChecks = target.sealer == nil && etagMD5 != nil && target.store.checksContentMD5(length: object.size)
            if targetChecks { attributes.contentMD5 = etagMD5 }
            let body = CopyBody(
                source: try await openPlain(object, range: nil, in: source), limiter: limiter, hashing: !targetChecks,
                result: digests)
            stored = try await storeObject(
                target, name: placed.blob, length: object.size, body: body, attributes: attributes,
                sealing: sealing?.0)
            try await header
        } catch {
            try? await header
            if target.owns(placed.blob, of: object.key) { await discard(target.names(of: placed.blob), in: target) }
            throw error
        }
        let md5 = digests.value?.md5 ?? stored.md5
        guard let d = digests.value, d.bytes == object.size, md5 == nil || ETag.md5(of: object.etag).map({ $0 == md5 }) ?? true else {
            if target.owns(placed.blob, of: object.key) { await discard(target.names(of: placed.blob), in: target) }
            throw StoreError.changed("\(object.bucket)/\(object.key): the source's bytes do not match the catalog's ETag")
        }
        return ReplicaRecord(
            bucket: object.bucket, key: object.key, version: object.version, blob: stored.name, backendETag: stored.etag,
            seal: seal, md5: md5.map { Hex.encode($0) })
    }
}

/// Plaintext on its way from one placement to the other: counted, hashed (MD5, the S3 ETag of
/// a single PUT) unless the store hashes what it receives anyway, and paced by a bandwidth
/// limit. The digest appears in `result` once the stream has been read to its end.
struct CopyBody<Source: AsyncSequence & Sendable>: AsyncSequence, Sendable where Source.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let source: Source
    let limiter: (any BandwidthLimiting)?
    let hashing: Bool
    let result: Digests

    final class Digests: Sendable {
        private let box = NIOLockedValueBox<(md5: [UInt8]?, bytes: Int64)?>(nil)
        func set(_ v: (md5: [UInt8]?, bytes: Int64)) { box.withLockedValue { $0 = v } }
        var value: (md5: [UInt8]?, bytes: Int64)? { box.withLockedValue { $0 } }
    }

    func makeAsyncIterator() -> Iterator {
        Iterator(base: source.makeAsyncIterator(), limiter: limiter, md5: hashing ? Insecure.MD5() : nil, result: result)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Source.AsyncIterator
        let limiter: (any BandwidthLimiting)?
        var md5: Insecure.MD5?
        let result: Digests
        var bytes: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else {
                result.set((md5.map { Array($0.finalize()) }, bytes))
                return nil
            }
            if md5 != nil { chunk.withUnsafeReadableBytes { md5?.update(bufferPointer: $0) } }
            bytes += Int64(chunk.readableBytes)
            try await limiter?.take(chunk.readableBytes)
            return chunk
        }
    }
}
