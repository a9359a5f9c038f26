import Catalog
import Foundation
import S3Protocol
import Storage

/// Which bytes a read serves and what describes them, decided before any response header is
/// fixed. Today every object has one representation, the stored object; a privacy view will
/// be another (its own bytes, size, ETag and checksums), chosen here for the reader.
public struct Representation: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// The object as stored (on the primary placement, or its target copy in cutover).
        case stored
        /// A project's view output (computed from the stored object).
        case view(ViewOutputRecord)
    }

    public var source: Source
    public var size: Int64
    public var etag: String
    public var lastModified: Date
    public var checksum: ChecksumValue?
    public var checksumType: String?
    public var partsCount: Int?
    /// The sizes of its parts, when it is a multipart object whose boundaries were recorded.
    public var partSizes: [Int64]?
    /// Whether byte ranges and part numbers address this representation.
    public var rangesAllowed: Bool
    /// Its own content type (a view output's); nil: the object's.
    public var contentType: String? = nil

    /// A view output: nothing of the stored object's metadata describes it.
    public var isView: Bool {
        if case .view = source { return true }
        return false
    }

    public static func stored(_ r: ObjectRecord) -> Representation {
        Representation(
            source: .stored, size: r.size, etag: r.etag, lastModified: r.lastModified, checksum: r.checksum,
            checksumType: r.checksumType, partsCount: r.partsCount, partSizes: r.partSizes ?? sealedParts(r),
            rangesAllowed: true)
    }

    /// A sealed multipart object's parts are its payload's segments (recorded before part
    /// sizes were, and recovered by a catalog rebuild).
    static func sealedParts(_ r: ObjectRecord) -> [Int64]? {
        guard let n = r.partsCount, let segments = r.seal?.segments, segments.count == n else { return nil }
        return segments.map(\.size)
    }
}

/// A read of one object, planned from one catalog read (`Catalog.readState`): the dataset's
/// route, the object's record and representation, and, while the dataset mirrors, its target
/// copy and replication status.
public struct ReadPlan: Sendable {
    public let route: DatasetRoute
    public let record: ObjectRecord
    public let representation: Representation
    let replica: ReplicaRecord?
    let queued: Bool
    /// `x-amz-replication-status` as AWS reports it on the source object: COMPLETED once the
    /// target holds this version, FAILED when its replication was dead-lettered, PENDING
    /// otherwise; nil when the dataset does not mirror.
    public let replicationStatus: String?
}

extension ObjectLayer {
    /// Plans the read of `key` (of its version `version`, when named): `noSuchDataset`,
    /// `noSuchKey`, `DeleteMarkerFound`, or what to serve.
    public func readPlan(dataset: String, key: String, version: VersionID? = nil) async throws -> ReadPlan {
        guard let state = try await catalog.readState(bucket: dataset, key: key, version: version) else {
            throw DatasetError.noSuchDataset(dataset)
        }
        let route = try route(state.bucket, migration: state.migration)
        if let marker = state.marker { throw DeleteMarkerFound(marker: marker, named: version != nil) }
        guard let record = state.object else { throw DatasetError.noSuchKey(dataset, key) }
        var status: String?
        if route.mirrors {
            if state.replica?.version == record.version {
                status = "COMPLETED"
            } else {
                status = state.journal?.dead == true ? "FAILED" : "PENDING"
            }
        }
        return ReadPlan(
            route: route, record: record, representation: .stored(record), replica: state.replica, queued: state.journal != nil,
            replicationStatus: status)
    }

    /// Throws what a read of the plan would throw before any byte (a shredded key), for HEAD.
    public func requireReadable(_ plan: ReadPlan) throws {
        if case .view = plan.representation.source { return }
        if let sealer = plan.route.primary.sealer, let seal = plan.record.seal { try sealer.requireKey(seal) }
    }

    /// Opens the planned bytes (`range` of them). In cutover a read comes from the target's
    /// copy when it holds this version; otherwise, or when that copy fails to open, from the
    /// source, and the key is queued so the target is repaired (read-repair).
    public func open(_ plan: ReadPlan, range: ByteRange?) async throws -> BlobStream {
        if case .view(let output) = plan.representation.source { return try await openView(output, range: range) }
        let (route, record) = (plan.route, plan.record)
        if route.readsFromTarget, let target = route.target {
            if let replica = plan.replica, replica.version == record.version {
                do {
                    let stream = try await openPlain(replica.applied(to: record), range: range, in: target)
                    observer.targetRead()
                    return stream
                } catch {
                    logger.warning(
                        "target read failed, serving the source",
                        metadata: [
                            "dataset": .string(record.bucket), "key": .string(record.key),
                            "error": .string("\(error)"),
                        ])
                    _ = try? await catalog.dropReplica(bucket: record.bucket, key: record.key, version: replica.version)
                }
            }
            observer.readFallback()
            if !plan.queued, try await catalog.journal(bucket: record.bucket, key: record.key) == nil {
                try await catalog.enqueue(bucket: record.bucket, key: record.key, now: now())
                observer.readRepair()
            }
        }
        return try await openPlain(record, range: range, in: route.primary)
    }
}
