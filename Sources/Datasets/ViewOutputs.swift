import Catalog
import Crypto
import Foundation
import NIOCore
import Privacy
import S3Protocol
import Sealing
import Storage

/// What one project reads of one dataset (DESIGN.md §7): its view, bound to the keys of its
/// current epoch and to the opt-out registry as it is now.
public struct ProjectView: Sendable {
    public let project: String
    public let version: Int
    public let spec: ViewSpec
    public let keys: PseudonymKeys
    public let optOut: OptOutFilter
    public let registryVersion: Int
    public let epoch: UInt32

    public init(project: String, version: Int, spec: ViewSpec, keys: PseudonymKeys, optOut: OptOutFilter, registryVersion: Int, epoch: UInt32) {
        self.project = project
        self.version = version
        self.spec = spec
        self.keys = keys
        self.optOut = optOut
        self.registryVersion = registryVersion
        self.epoch = epoch
    }

    /// What an output was computed from, besides its source version.
    public var identity: String { "view \(version), registry \(registryVersion), epoch \(epoch)" }

    public var contentType: String { spec.format == .csv ? "text/csv" : "application/x-ndjson" }
}

/// View outputs: computed from the source's plaintext as a stream, sealed under the `_views`
/// keys on the local store in segments of `viewSegment` bytes (memory stays bounded by one
/// segment whatever the object's size), recorded in the catalog only once complete, so a
/// partial output is never served; a failed or interrupted computation leaves only garbage
/// that the start-up sweep removes.
extension ObjectLayer {
    /// The KEK of every view output (not a dataset name: S3 bucket names have no `_`).
    public static let viewsKEK = "_views"
    static let viewSegment = 4 << 20

    func viewPlacement() throws -> ResolvedPlacement {
        guard let keyring = backends.keyring else {
            throw DatasetError(.keysUnavailable, dataset: Self.viewsKEK, "view outputs are sealed and this gateway has no master key")
        }
        try keyring.ensureKeys(for: Self.viewsKEK)
        return try backends.resolve(Placement(backend: "local", layout: "sealed"), dataset: Self.viewsKEK)
    }

    /// Where new outputs are written, and the keys they are sealed under.
    func viewSealing() throws -> (ResolvedPlacement, DatasetSealer) {
        let placement = try viewPlacement()
        guard let sealer = placement.sealer else { throw SealingError.malformed("the views placement is not sealed") }
        return (placement, sealer)
    }

    /// The project's output of `key` when it was computed from `sourceVersion` under the
    /// view as it is now; nil when there is none or it is stale.
    func currentOutput(_ bucket: String, _ key: String, view: ProjectView, sourceVersion: Int64) async throws -> ViewOutputRecord? {
        guard let o = try await catalog.viewOutput(bucket: bucket, key: key, project: view.project),
            o.sourceVersion == sourceVersion, o.identity == view.identity
        else { return nil }
        return o
    }

    /// Records a complete output (the blob it replaces is discarded); on failure the new blob
    /// is discarded instead, so nothing unrecorded is left behind.
    func commitOutput(_ output: ViewOutputRecord, in placement: ResolvedPlacement) async throws {
        do {
            if let replaced = try await catalog.putViewOutput(output) { await discard([replaced], in: placement) }
        } catch {
            await discard([output.blob], in: placement)
            throw error
        }
    }

    /// The plan of a project's read through its view: the same object, its view output's
    /// bytes, size and ETag. The output is computed first if the project has none for this
    /// (source version, view, registry, epoch); concurrent readers wait for one computation.
    public func viewPlan(_ plan: ReadPlan, view: ProjectView) async throws -> (ReadPlan, computed: ViewOutputRecord?) {
        let r = plan.record
        if let o = try await currentOutput(r.bucket, r.key, view: view, sourceVersion: r.version) { return (plan.serving(o, view), nil) }
        return try await locks.with("view\u{0}\(view.project)\u{0}\(r.bucket)\u{0}\(r.key)") {
            if let o = try await currentOutput(r.bucket, r.key, view: view, sourceVersion: r.version) { return (plan.serving(o, view), nil) }
            let o = try await materialise(plan, view)
            return (plan.serving(o, view), o)
        }
    }

    func materialise(_ plan: ReadPlan, _ view: ProjectView) async throws -> ViewOutputRecord {
        let (placement, sealer) = try viewSealing()
        let (keys, seal) = try sealer.newObject()
        var writer = SegmentWriter(store: placement.store, name: placement.name(for: ""), keys: keys)
        var stream = ViewStream(engine: ViewEngine(spec: view.spec, keys: view.keys, optOut: view.optOut))
        var md5 = Insecure.MD5()
        var out: [UInt8] = []
        do {
            let source = try await open(plan, range: nil)
            try await stream.run(source, format: view.spec.format) { piece in
                out.append(contentsOf: piece)
                while out.count >= Self.viewSegment {
                    var segment = Array(out[Self.viewSegment...])
                    swap(&segment, &out)
                    segment.removeLast(segment.count - Self.viewSegment)
                    md5.update(data: segment)
                    try await writer.append(segment)
                }
            }
            md5.update(data: out)
            try await writer.finish(out)
        } catch let e as PrivacyError {
            await writer.abort()
            logger.warning(
                "view failed",
                metadata: [
                    "dataset": .string(plan.record.bucket), "key": .string(plan.record.key), "project": .string(view.project),
                    "error": .string(e.description),
                ])
            throw DatasetError(.viewFailed, dataset: plan.record.bucket, key: plan.record.key, e.description)
        } catch {
            await writer.abort()
            throw error
        }
        var sealed = seal
        sealed.segments = writer.segments
        let counts = stream.engine.counts
        let output = ViewOutputRecord(
            bucket: plan.record.bucket, key: plan.record.key, project: view.project, sourceVersion: plan.record.version, identity: view.identity,
            blob: writer.name, size: writer.size, etag: ETag.quoted(md5: Array(md5.finalize())), created: now(), seal: sealed,
            rowsRead: counts.read, rowsServed: counts.served, rowsOptedOut: counts.optedOut)
        try await commitOutput(output, in: placement)
        return output
    }

    /// The bytes of a view output (`range` of them).
    func openView(_ output: ViewOutputRecord, range: ByteRange?) async throws -> BlobStream {
        let record = ObjectRecord(
            bucket: Self.viewsKEK, key: output.key, size: output.size, etag: output.etag, lastModified: output.created, headers: ObjectHeaders(),
            checksum: nil, checksumType: nil, blob: output.blob, partsCount: nil, seal: output.seal)
        return try await openPlain(record, range: range, in: try viewPlacement())
    }
}

extension ReadPlan {
    /// This plan, serving a view output instead of the stored object.
    func serving(_ output: ViewOutputRecord, _ view: ProjectView) -> ReadPlan {
        serving(output, contentType: view.contentType)
    }

    func serving(_ output: ViewOutputRecord, contentType: String) -> ReadPlan {
        ReadPlan(
            route: route, record: record,
            representation: Representation(
                source: .view(output), size: output.size, etag: output.etag, lastModified: output.created, checksum: nil, checksumType: nil,
                partsCount: nil, partSizes: nil, rangesAllowed: true, contentType: contentType),
            replica: replica, queued: queued, replicationStatus: nil)
    }
}

/// Writes a sealed object of unknown length one segment at a time: as one object when it fits
/// in one segment, else as parts (segment n is part n, docs/sealed-format.md).
struct SegmentWriter {
    let store: any ObjectStore
    let name: String
    let keys: ObjectKeys
    var upload: String?
    var parts: [PartToken] = []
    private(set) var segments: [Segment] = []
    private(set) var size: Int64 = 0

    init(store: any ObjectStore, name: String, keys: ObjectKeys) {
        self.store = store
        self.name = name
        self.keys = keys
    }

    mutating func append(_ plain: [UInt8]) async throws {
        if upload == nil { upload = try await store.startParts(name: name, attributes: .none) }
        let number = parts.count + 1
        let body = try Self.seal(plain, keys: keys, segment: UInt32(number))
        parts.append(
            try await store.putPart(name: name, upload: upload ?? "", number: number, length: Int64(body.readableBytes), body: BufferSequence(body)))
        segments.append(Segment(number: UInt32(number), size: Int64(plain.count)))
        size += Int64(plain.count)
    }

    mutating func finish(_ last: [UInt8]) async throws {
        guard upload != nil else {
            let body = try Self.seal(last, keys: keys, segment: 0)
            _ = try await store.put(name: name, length: Int64(body.readableBytes), body: BufferSequence(body), attributes: .none)
            segments = [Segment(number: 0, size: Int64(last.count))]
            size = Int64(last.count)
            return
        }
        if !last.isEmpty { try await append(last) }
        _ = try await store.finishParts(name: name, upload: upload ?? "", parts: parts, attributes: .none)
    }

    func abort() async {
        if let upload { try? await store.abortParts(name: name, upload: upload, parts: parts) }
        try? await store.delete(name: name)
    }

    static func seal(_ plain: [UInt8], keys: ObjectKeys, segment: UInt32) throws -> ByteBuffer {
        var sealer = try SegmentSealer(keys: keys, segment: segment, plainLength: Int64(plain.count))
        var out: [UInt8] = []
        out.reserveCapacity(Int(SealedFormat.sealedLength(Int64(plain.count))))
        try plain.withUnsafeBytes { try sealer.feed($0, into: &out) }
        try sealer.finish(into: &out)
        return ByteBuffer(bytes: out)
    }
}

extension ObjectLayer {
    /// A listed object as the project's view shows it (its output's size, ETag and time),
    /// computing the output if needed; nil when its view fails (the listing leaves it out,
    /// and a GET of it answers the error).
    public func viewListing(_ record: ObjectRecord, view: ProjectView) async throws -> ObjectRecord? {
        var output = try await currentOutput(record.bucket, record.key, view: view, sourceVersion: record.version)
        if output == nil { output = try await computeOutput(record, view: view) }
        guard let output else { return nil }
        var listed = record
        listed.size = output.size
        listed.etag = output.etag
        listed.lastModified = output.created
        listed.checksum = nil
        listed.checksumType = nil
        return listed
    }

    /// Computes the project's output of a listed object (as of the object's current version);
    /// nil when its view fails or the object went since it was listed.
    func computeOutput(_ record: ObjectRecord, view: ProjectView) async throws -> ViewOutputRecord? {
        do {
            let (plan, _) = try await viewPlan(try await readPlan(dataset: record.bucket, key: record.key), view: view)
            guard case .view(let o) = plan.representation.source else { return nil }
            return o
        } catch let e as DatasetError where e.code == .viewFailed || e.code == .noSuchKey {
            return nil
        } catch is DeleteMarkerFound {
            return nil
        }
    }
}
