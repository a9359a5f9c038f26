import Foundation
import S3Protocol
import Sealing

/// Where a dataset's objects live (DESIGN.md §3): a backend, a container on it (S3 bucket,
/// Azure container; empty for the local store), a name prefix, and a layout.
public struct Placement: Sendable, Equatable, Codable {
    public var backend: String
    public var container: String
    public var prefix: String
    /// `native`: objects under their own key (prefix + key), readable by any tool; `sealed`:
    /// opaque ids holding the sealed format (docs/sealed-format.md).
    public var layout: String
    /// The keyring id of a sealed placement's KEKs (default: the dataset's name). A sealed
    /// migration target of a sealed dataset gets its own, so retiring the source can shred the
    /// source's keys without touching the target's.
    public var keyID: String?

    public init(backend: String, container: String = "", prefix: String = "", layout: String = "native", keyID: String? = nil) {
        self.backend = backend
        self.container = container
        self.prefix = prefix
        self.layout = layout
        self.keyID = keyID
    }

    /// The embedded filesystem store.
    public static let local = Placement(backend: "local")

    public static let layouts = ["native", "sealed"]
    public var sealed: Bool { layout == "sealed" }

    // Decoded from the catalog and from YAML, where `bucket` may stand for `container` and
    // `prefix` and `layout` may be omitted.
    enum CodingKeys: String, CodingKey {
        case backend, container, bucket, prefix, layout
        case keyID = "key_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(backend: try c.decode(String.self, forKey: .backend),
                  container: try c.decodeIfPresent(String.self, forKey: .container) ?? c.decodeIfPresent(String.self, forKey: .bucket) ?? "",
                  prefix: try c.decodeIfPresent(String.self, forKey: .prefix) ?? "",
                  layout: try c.decodeIfPresent(String.self, forKey: .layout) ?? "native",
                  keyID: try c.decodeIfPresent(String.self, forKey: .keyID))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(backend, forKey: .backend)
        try c.encode(container, forKey: .container)
        try c.encode(prefix, forKey: .prefix)
        try c.encode(layout, forKey: .layout)
        try c.encodeIfPresent(keyID, forKey: .keyID)
    }

    /// The keyring id a sealed placement of `dataset` uses.
    public func keyring(of dataset: String) -> String { keyID ?? dataset }

    /// Same backend objects (whatever the key id).
    public func sameLocation(as other: Placement) -> Bool {
        backend == other.backend && container == other.container && prefix == other.prefix
    }

    public var description: String {
        container.isEmpty ? "\(backend) (\(layout))" : "\(backend):\(container)/\(prefix) (\(layout))"
    }
}

/// A dataset: an S3 bucket as clients see it.
public struct BucketRecord: Sendable, Equatable {
    public var name: String
    public var region: String
    public var created: Date
    public var placement: Placement

    public init(name: String, region: String, created: Date, placement: Placement = .local) {
        self.name = name
        self.region = region
        self.created = created
        self.placement = placement
    }
}

/// Stored and returned headers of an object: the standard ones and `x-amz-meta-*`.
public struct ObjectHeaders: Sendable, Equatable, Codable {
    public var contentType: String?
    /// Content-Encoding, Content-Disposition, Content-Language, Cache-Control, Expires
    /// (lower-case names), exactly as given.
    public var standard: [String: String]
    /// User metadata, names lower-cased without the `x-amz-meta-` prefix.
    public var user: [String: String]

    public init(contentType: String? = nil, standard: [String: String] = [:], user: [String: String] = [:]) {
        self.contentType = contentType
        self.standard = standard
        self.user = user
    }

    public static let standardNames = ["content-encoding", "content-disposition", "content-language", "cache-control", "expires"]
}

/// The catalog's truth about one object, whatever the backend holds.
public struct ObjectRecord: Sendable, Equatable {
    public var bucket: String
    public var key: String
    public var size: Int64
    public var etag: String
    public var lastModified: Date
    public var headers: ObjectHeaders
    public var checksum: ChecksumValue?
    /// `COMPOSITE` or `FULL_OBJECT` (S3 `x-amz-checksum-type`), when a checksum is stored.
    public var checksumType: String?
    /// The object's name on its backend.
    public var blob: String
    public var partsCount: Int?
    /// The backend's ETag for `blob`, to detect a backend object changed behind the catalog.
    public var backendETag: String?
    /// How the payload of an object on a sealed placement is keyed and cut.
    public var seal: SealRecord?
    /// Assigned by the catalog on every write (increasing across the catalog): a copy on a
    /// migration target says which version it holds.
    public var version: Int64 = 0

    public init(bucket: String, key: String, size: Int64, etag: String, lastModified: Date, headers: ObjectHeaders,
                checksum: ChecksumValue?, checksumType: String?, blob: String, partsCount: Int?, backendETag: String? = nil,
                seal: SealRecord? = nil) {
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.headers = headers
        self.checksum = checksum
        self.checksumType = checksumType
        self.blob = blob
        self.partsCount = partsCount
        self.backendETag = backendETag
        self.seal = seal
    }
}

extension ObjectRecord {
    func with(version: Int64) -> ObjectRecord {
        var r = self
        r.version = version
        return r
    }
}

/// The catalog's copy of what a sealed object's header says about its keys and layout, so a
/// read needs no extra backend request: the object nonce, the DEK wrapped under a KEK version
/// (re-wrapped by rotation), and the payload's segments.
public struct SealRecord: Sendable, Equatable, Codable {
    public var format: UInt16
    public var nonce: [UInt8]
    public var key: WrappedKey
    public var segments: [Segment]

    public init(format: UInt16 = SealedFormat.version, nonce: [UInt8], key: WrappedKey, segments: [Segment]) {
        self.format = format
        self.nonce = nonce
        self.key = key
        self.segments = segments
    }
}

public struct UploadRecord: Sendable, Equatable {
    public var uploadID: String
    public var bucket: String
    public var key: String
    public var initiated: Date
    public var headers: ObjectHeaders
    public var checksumAlgorithm: ChecksumAlgorithm?
    public var checksumType: String?
    /// The backend's own upload id (S3 multipart), and the object name it writes.
    public var backendUpload: String?
    public var blob: String?
    /// The sealed upload's keys (segments filled in at completion).
    public var seal: SealRecord?

    public init(uploadID: String, bucket: String, key: String, initiated: Date, headers: ObjectHeaders,
                checksumAlgorithm: ChecksumAlgorithm?, checksumType: String?, backendUpload: String? = nil, blob: String? = nil,
                seal: SealRecord? = nil) {
        self.uploadID = uploadID
        self.bucket = bucket
        self.key = key
        self.initiated = initiated
        self.headers = headers
        self.checksumAlgorithm = checksumAlgorithm
        self.checksumType = checksumType
        self.backendUpload = backendUpload
        self.blob = blob
        self.seal = seal
    }
}

public struct PartRecord: Sendable, Equatable {
    public var uploadID: String
    public var partNumber: Int
    public var size: Int64
    public var etag: String
    public var lastModified: Date
    public var checksum: ChecksumValue?
    /// What the backend needs to commit the part (local blob id, S3 part ETag, Azure block id).
    public var blob: String

    public init(uploadID: String, partNumber: Int, size: Int64, etag: String, lastModified: Date, checksum: ChecksumValue?, blob: String) {
        self.uploadID = uploadID
        self.partNumber = partNumber
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.checksum = checksum
        self.blob = blob
    }
}

/// The single source of truth for what clients see (DESIGN.md §3). Every mutating call is one
/// durable transaction: when it returns, the change survives a crash.
public protocol Catalog: Sendable {
    func createBucket(_ bucket: BucketRecord) async throws
    func bucket(_ name: String) async throws -> BucketRecord?
    func buckets() async throws -> [BucketRecord]
    /// Throws BucketNotEmpty while objects remain; returns the uploads it aborted, with their parts.
    func deleteBucket(_ name: String) async throws -> [(UploadRecord, [PartRecord])]
    /// Number of objects and their total size.
    func usage(bucket: String) async throws -> (objects: Int, bytes: Int64)

    func object(bucket: String, key: String) async throws -> ObjectRecord?
    /// Inserts or replaces, giving the object a new version; `precondition` sees the current
    /// record inside the transaction (conditional writes are atomic). On a dataset that mirrors,
    /// the target copy is recorded (`mirror.target` written) or the key journaled, in the same
    /// transaction. Returns the blobs no row refers to any more.
    func putObject(_ record: ObjectRecord, mirror: MirrorCommit, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws -> WriteResult
    /// Deletes the object (and, mirrored, its target copy's row or a journal entry); returns the
    /// deleted object's blob and its target copy's, nil if there was none.
    func deleteObject(bucket: String, key: String, mirror: MirrorCommit) async throws -> (blob: String?, replica: String?)
    /// Objects with `from <= key < until` (byte order), at most `limit`.
    func objects(bucket: String, from: [UInt8], until: [UInt8]?, limit: Int) async throws -> [ObjectRecord]

    func createUpload(_ upload: UploadRecord) async throws
    func upload(_ id: String) async throws -> UploadRecord?
    /// Replaces a part of the same number; returns the replaced part.
    func putPart(_ part: PartRecord) async throws -> PartRecord?
    func parts(uploadID: String) async throws -> [PartRecord]
    /// Makes `record` the object and removes the upload; returns its parts and the replaced
    /// object's blob when it differs from the new one.
    func completeUpload(_ uploadID: String, record: ObjectRecord, mirror: MirrorCommit,
                        precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws -> (parts: [PartRecord], result: WriteResult)
    /// Removes the upload; returns its parts.
    func abortUpload(_ uploadID: String) async throws -> [PartRecord]
    func uploads(bucket: String) async throws -> [UploadRecord]

    /// Every blob a row refers to (objects and parts), for garbage collection.
    func referencedBlobs() async throws -> Set<String>

    /// Intents: a write or delete of `key` on an in-place placement is about to change the
    /// backend object before the catalog; a crash in between leaves the intent behind, and
    /// the gateway reconciles the key at its next start.
    func beginIntent(bucket: String, key: String, now: Date) async throws
    func endIntent(bucket: String, key: String) async throws
    func intents() async throws -> [(bucket: String, key: String)]

    // Key rotation: every sealed object and upload of a dataset whose DEK is wrapped under an
    // older KEK version gets re-wrapped.

    /// Objects of `bucket` whose DEK is wrapped under a version below `version`, in key order.
    func objects(bucket: String, wrappedBelow version: UInt32, limit: Int) async throws -> [ObjectRecord]
    /// Replaces the seals of the given objects, each only if its row still holds that blob (a
    /// newer write wins), in one transaction; returns how many rows changed.
    func updateSeals(bucket: String, _ updates: [(key: String, blob: String, seal: SealRecord)]) async throws -> Int
    func uploads(bucket: String, wrappedBelow version: UInt32) async throws -> [UploadRecord]
    func updateSeal(uploadID: String, seal: SealRecord) async throws
    /// Objects and uploads per KEK version.
    func keyUsage(bucket: String) async throws -> [UInt32: Int]

    // Migrations (DESIGN.md §3): phases, target copies, the replication journal.

    func migration(_ bucket: String) async throws -> MigrationRecord?
    func migrations() async throws -> [MigrationRecord]
    /// Starts mirroring to `record.target` (phase `mirroring`); refused while a migration of the
    /// dataset is under way. The epoch follows the previous migration's.
    func startMigration(_ record: MigrationRecord, transition: PhaseTransition) async throws -> MigrationRecord
    /// Moves the phase from `transition.from` to `transition.to` if it still is `from`: abort
    /// forgets the target copies and the journal; retire makes the target the dataset's only
    /// placement (every object must have a current target copy and the journal be empty).
    func changePhase(_ transition: PhaseTransition) async throws -> MigrationRecord
    func transitions(bucket: String) async throws -> [PhaseTransition]
    func updateBackfill(bucket: String, epoch: Int, _ state: BackfillState) async throws
    func recordVerification(bucket: String, at: Date, clean: Bool, report: String) async throws
    func recordReplicationFailure(bucket: String, at: Date) async throws
    /// Changes write mode or backfill limits of a running migration.
    func tuneMigration(bucket: String, mode: WriteMode?, bandwidth: Int64??, parallelism: Int?) async throws

    func replica(bucket: String, key: String) async throws -> ReplicaRecord?
    /// Objects with `key >= from` in key order, each with its target copy's row if any.
    func objectsWithReplicas(bucket: String, from: [UInt8], limit: Int) async throws -> [(ObjectRecord, ReplicaRecord?)]
    /// Records a target copy of `replica.version`, only if the object still has that version;
    /// returns whether it did and the blob of the copy it replaced. A backfill copy (`size`
    /// given) is counted in the migration's progress in the same transaction.
    func commitReplica(_ replica: ReplicaRecord, size: Int64?) async throws -> (committed: Bool, replaced: String?)
    /// Forgets the target copy of a key (only the copy of `version`, when given).
    func dropReplica(bucket: String, key: String, version: Int64?) async throws -> Bool
    /// Every target copy's blob of a dataset.
    func replicaBlobs(bucket: String) async throws -> Set<String>

    /// Queues `key` for the workers (read-repair, or a sync write whose target copy failed).
    func enqueue(bucket: String, key: String, now: Date) async throws
    /// Entries due at `now`, oldest first, not dead-lettered.
    func dueJournal(now: Date, limit: Int) async throws -> [JournalEntry]
    /// Removes the entry if no newer write queued the key again.
    func finishJournal(_ entry: JournalEntry) async throws
    /// Records a failed attempt: retried at `nextTry`, or dead-lettered.
    func failJournal(_ entry: JournalEntry, error: String, nextTry: Date, dead: Bool) async throws
    func journal(bucket: String, key: String) async throws -> JournalEntry?
    func journalStats(bucket: String) async throws -> JournalStats
    /// Puts dead-lettered entries back in the queue; returns how many.
    func retryDead(bucket: String, now: Date) async throws -> Int
}

extension Catalog {
    /// A write that is not part of a routed request (maintenance): mirrored as the dataset's
    /// phase says, through the journal.
    public func putObject(_ record: ObjectRecord, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws -> String? {
        try await putObject(record, mirror: .current, precondition: precondition).replaced
    }

    public func deleteObject(bucket: String, key: String) async throws -> String? {
        try await deleteObject(bucket: bucket, key: key, mirror: .current).blob
    }
}

public enum CatalogError: Error, Sendable, Equatable {
    case bucketExists
    case noSuchBucket
    case bucketNotEmpty
    case noSuchUpload
    /// The dataset's routing changed (its source was detached) while the write was under way.
    case routingChanged
    /// A phase change whose precondition does not hold.
    case phase(String)
    /// Retirement while copies are not all current yet (retry once the queue drains).
    case notReady(String)
    /// A row the catalog cannot interpret; the request fails rather than guess.
    case corrupt(String)
}
