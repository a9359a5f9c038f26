import Audit
import Catalog
import Foundation
import Logging
import Replication
import S3Protocol
import Storage

/// Brings the target copy of one key in line with the catalog: the one operation behind the
/// journal workers, the backfill, read-repair and sync writes. It runs under the key's lock, so
/// it never races a write of the same key, and it records a copy only if the object still has
/// the version it copied: a newer version is never overwritten by an older one.
struct Replicator: Sendable {
    let responder: S3Responder
    var state: GatewayState { responder.state }

    enum Outcome: Equatable {
        case copied(Int64)
        case current
        case deleted
        /// A newer write changed the key during the copy; its own replication follows.
        case superseded
        case absent
    }

    init(state: GatewayState) {
        responder = S3Responder(state: state)
    }

    /// Every transfer to the target is in the audit log, recorded once the target holds (or no
    /// longer holds) the bytes and *before* the catalog records it: a crash in between can only
    /// leave an entry for a copy that is then made again, never a recorded copy without its entry.
    /// With `slots`, the transfer itself holds one of them.
    func sync(_ route: DatasetRoute, key: String, limiter: RateLimiter? = nil, backfill: Bool = false,
              slots: CopySlots? = nil) async throws -> Outcome {
        guard let target = route.target else { return .absent }
        let bucket = route.bucket.name
        @Sendable func audit(_ action: String, bytes: Int64? = nil, detail: String? = nil) async {
            await state.trust?.record(AuditEvent(time: state.now(), principal: "gateway", action: action, dataset: bucket, key: key, bytes: bytes,
                                                 result: "ok", detail: detail), logger: state.logger)
        }
        return try await state.keyLocks.with(S3Responder.lockName(bucket, key)) {
            let object = try await state.catalog.object(bucket: bucket, key: key)
            let replica = try await state.catalog.replica(bucket: bucket, key: key)
            guard let object else {
                guard let replica else { return .absent }
                try await target.store.delete(names: target.names(of: replica.blob))
                await audit("replicate.delete")
                _ = try await state.catalog.dropReplica(bucket: bucket, key: key, version: replica.version)
                return .deleted
            }
            if replica?.version == object.version { return .current }
            if target.inPlace, replica != nil {
                // The copy replaces the recorded one in place: forget it first, so a crash
                // half-way leaves "no copy" (copied again) rather than a wrong record.
                _ = try await state.catalog.dropReplica(bucket: bucket, key: key, version: nil)
            }
            let copy = try await slots.with { try await self.copy(object, from: route.primary, to: target, limiter: limiter) }
            await audit("replicate", bytes: object.size, detail: backfill ? "backfill" : "mirror")
            let (committed, replaced) = try await state.catalog.commitReplica(copy, size: backfill ? object.size : nil)
            guard committed else {
                if !target.inPlace { await responder.discard(target.names(of: copy.blob), in: target) }
                return .superseded
            }
            if let replaced, !target.inPlace { await responder.discard(target.names(of: replaced), in: target) }
            state.metrics.bytesCopied.increment(by: object.size)
            return .copied(object.size)
        }
    }

    /// Copies the plaintext of `object` to `target` (sealed there under fresh keys when the
    /// target is sealed); checks it against the object's MD5 ETag on the way.
    func copy(_ object: ObjectRecord, from source: ResolvedPlacement, to target: ResolvedPlacement, limiter: RateLimiter?) async throws -> ReplicaRecord {
        let sealing = try target.sealer?.newObject()
        let seal = sealing?.1.single(size: object.size)
        let placed = { var r = object; r.blob = target.name(for: object.key); r.seal = seal; return r }()
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
            let body = CopyBody(source: try await responder.openPlain(object, range: nil, in: source), limiter: limiter,
                                hashing: !targetChecks, result: digests)
            stored = try await responder.storeObject(target, name: placed.blob, length: object.size, body: body,
                                                     attributes: attributes, sealing: sealing?.0)
            try await header
        } catch {
            try? await header
            if !target.inPlace { await responder.discard(target.names(of: placed.blob), in: target) }
            throw error
        }
        let md5 = digests.value?.md5 ?? stored.md5
        guard let d = digests.value, d.bytes == object.size, md5 == nil || ETag.md5(of: object.etag).map({ $0 == md5 }) ?? true else {
            if !target.inPlace { await responder.discard(target.names(of: placed.blob), in: target) }
            throw StoreError.changed("\(object.bucket)/\(object.key): the source's bytes do not match the catalog's ETag")
        }
        return ReplicaRecord(bucket: object.bucket, key: object.key, version: object.version, blob: stored.name, backendETag: stored.etag,
                             seal: seal, md5: md5.map { Hex.encode($0) })
    }
}
