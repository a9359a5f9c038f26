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
        self.init(
            backend: try c.decode(String.self, forKey: .backend),
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
    /// The dataset's tag set (S3 bucket tagging); nil when it has none.
    public var tags: [ObjectTag]?
    /// The rules that expire its objects and uploads; nil when it has none.
    public var lifecycle: LifecycleConfiguration?
    /// Its versioning state; nil when versioning was never configured.
    public var versioning: VersioningState?
    /// Its Object Lock configuration; nil when it was created without Object Lock.
    public var objectLock: ObjectLockConfiguration?
    /// As created or last set (`PrivacyCatalog.sensitivity` reads the current value uncached).
    public var sensitivity: Sensitivity

    public init(
        name: String, region: String, created: Date, placement: Placement = .local, tags: [ObjectTag]? = nil,
        lifecycle: LifecycleConfiguration? = nil, versioning: VersioningState? = nil, objectLock: ObjectLockConfiguration? = nil,
        sensitivity: Sensitivity = .open
    ) {
        self.sensitivity = sensitivity
        self.objectLock = objectLock
        self.name = name
        self.region = region
        self.created = created
        self.placement = placement
        self.tags = tags
        self.lifecycle = lifecycle
        self.versioning = versioning
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
    /// The object's tag set (S3 tagging), in the order given; kept by the catalog only.
    public var tags: [ObjectTag]
    /// Its Object Lock retention and legal hold (nil: none); kept by the catalog only.
    public var lock: ObjectLockState?

    public init(
        contentType: String? = nil, standard: [String: String] = [:], user: [String: String] = [:], tags: [ObjectTag] = [],
        lock: ObjectLockState? = nil
    ) {
        self.contentType = contentType
        self.standard = standard
        self.user = user
        self.tags = tags
        self.lock = lock
    }

    enum CodingKeys: String, CodingKey {
        case contentType, standard, user, tags, lock
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contentType = try c.decodeIfPresent(String.self, forKey: .contentType)
        standard = try c.decodeIfPresent([String: String].self, forKey: .standard) ?? [:]
        user = try c.decodeIfPresent([String: String].self, forKey: .user) ?? [:]
        tags = try c.decodeIfPresent([ObjectTag].self, forKey: .tags) ?? []
        lock = try c.decodeIfPresent(ObjectLockState.self, forKey: .lock)
    }

    // Rows written before tags existed, and objects without tags, keep the same JSON.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(contentType, forKey: .contentType)
        try c.encode(standard, forKey: .standard)
        try c.encode(user, forKey: .user)
        if !tags.isEmpty { try c.encode(tags, forKey: .tags) }
        if let lock, !lock.isEmpty { try c.encode(lock, forKey: .lock) }
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
    /// The sizes of a multipart object's parts, in order (GetObject `partNumber`); nil for a
    /// single-part object and for multipart objects completed before they were recorded.
    public var partSizes: [Int64]?
    /// The backend's ETag for `blob`, to detect a backend object changed behind the catalog.
    public var backendETag: String?
    /// How the payload of an object on a sealed placement is keyed and cut.
    public var seal: SealRecord?
    /// Assigned by the catalog on every write (increasing for a key across its whole life): a
    /// copy on a migration target says which version it holds, and S3 version ids encode it.
    public var version: Int64 = 0
    /// Written while its bucket's versioning was enabled: its S3 version id is its own, not `null`.
    public var versioned = false
    /// A delete marker (a version with no bytes, S3 versioning); only the catalog's versions hold them.
    public var deleteMarker = false

    /// Its S3 version id.
    public var versionID: VersionID { VersionID(version: version, versioned: versioned) }

    public init(
        bucket: String, key: String, size: Int64, etag: String, lastModified: Date, headers: ObjectHeaders,
        checksum: ChecksumValue?, checksumType: String?, blob: String, partsCount: Int?, backendETag: String? = nil,
        seal: SealRecord? = nil
    ) {
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

    public init(
        uploadID: String, bucket: String, key: String, initiated: Date, headers: ObjectHeaders,
        checksumAlgorithm: ChecksumAlgorithm?, checksumType: String?, backendUpload: String? = nil, blob: String? = nil,
        seal: SealRecord? = nil
    ) {
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

/// A write or delete of an in-place object under way: recorded before the backend object
/// changes, cleared by the catalog commit (see `IntentCatalog`).
public struct Intent: Sendable, Equatable {
    public var bucket: String
    public var key: String
    /// The process that recorded it (`ObjectLayer`'s instance id; empty before owners were kept).
    public var owner: String

    public init(bucket: String, key: String, owner: String) {
        self.bucket = bucket
        self.key = key
        self.owner = owner
    }
}

/// What a read of one object needs from the catalog, read in one transaction (one round trip
/// on a database server): the dataset, its migration and the object; while the dataset
/// mirrors, also the object's target copy and journal entry (the replication status).
public struct ObjectReadState: Sendable, Equatable {
    public var bucket: BucketRecord
    public var migration: MigrationRecord?
    public var object: ObjectRecord?
    public var replica: ReplicaRecord?
    public var journal: JournalEntry?
    /// The delete marker the read found instead of an object: the key's latest version, or the
    /// version it named.
    public var marker: ObjectRecord?

    public init(
        bucket: BucketRecord, migration: MigrationRecord?, object: ObjectRecord?, replica: ReplicaRecord?, journal: JournalEntry?,
        marker: ObjectRecord? = nil
    ) {
        self.bucket = bucket
        self.migration = migration
        self.object = object
        self.replica = replica
        self.journal = journal
        self.marker = marker
    }
}

/// What a delete did: the blob no row refers to any more (and its target copy's), and, on a
/// versioned dataset, the delete marker it created.
public struct DeleteResult: Sendable, Equatable {
    public var blob: String?
    public var replica: String?
    public var marker: ObjectRecord?

    public init(blob: String? = nil, replica: String? = nil, marker: ObjectRecord? = nil) {
        self.blob = blob
        self.replica = replica
        self.marker = marker
    }
}

/// What a delete of one version did: the version removed (nil: there was none), its blob, and
/// its migration target copy's blob, which no row refers to any more.
public struct VersionDeletion: Sendable, Equatable {
    public var removed: ObjectRecord?
    public var blob: String?
    public var replica: String?

    public init(removed: ObjectRecord? = nil, blob: String? = nil, replica: String? = nil) {
        self.removed = removed
        self.blob = blob
        self.replica = replica
    }
}

/// One version in a listing of versions, newest first within its key.
public struct ListedVersion: Sendable, Equatable {
    public var record: ObjectRecord
    public var isLatest: Bool

    public init(record: ObjectRecord, isLatest: Bool) {
        self.record = record
        self.isLatest = isLatest
    }
}

/// Where a listing of versions starts (inclusive): at every version of `key` when `below` is
/// nil, else at `key`'s versions older than `below`; later keys follow.
public struct VersionCursor: Sendable, Equatable {
    public var key: [UInt8]
    public var below: Int64?

    public init(key: [UInt8], below: Int64? = nil) {
        self.key = key
        self.below = below
    }
}
