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

    public init(backend: String, container: String = "", prefix: String = "", layout: String = "native") {
        self.backend = backend
        self.container = container
        self.prefix = prefix
        self.layout = layout
    }

    /// The embedded filesystem store.
    public static let local = Placement(backend: "local")

    public static let layouts = ["native", "sealed"]
    public var sealed: Bool { layout == "sealed" }

    // Decoded from the catalog and from YAML, where `bucket` may stand for `container` and
    // `prefix` and `layout` may be omitted.
    enum CodingKeys: String, CodingKey {
        case backend, container, bucket, prefix, layout
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(backend: try c.decode(String.self, forKey: .backend),
                  container: try c.decodeIfPresent(String.self, forKey: .container) ?? c.decodeIfPresent(String.self, forKey: .bucket) ?? "",
                  prefix: try c.decodeIfPresent(String.self, forKey: .prefix) ?? "",
                  layout: try c.decodeIfPresent(String.self, forKey: .layout) ?? "native")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(backend, forKey: .backend)
        try c.encode(container, forKey: .container)
        try c.encode(prefix, forKey: .prefix)
        try c.encode(layout, forKey: .layout)
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
    /// Inserts or replaces; `precondition` sees the current record inside the transaction
    /// (conditional writes are atomic). Returns the blob of the replaced object, if any.
    func putObject(_ record: ObjectRecord, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws -> String?
    /// Returns the deleted object's blob, nil if there was none.
    func deleteObject(bucket: String, key: String) async throws -> String?
    /// Objects with `from <= key < until` (byte order), at most `limit`.
    func objects(bucket: String, from: [UInt8], until: [UInt8]?, limit: Int) async throws -> [ObjectRecord]

    func createUpload(_ upload: UploadRecord) async throws
    func upload(_ id: String) async throws -> UploadRecord?
    /// Replaces a part of the same number; returns the replaced part.
    func putPart(_ part: PartRecord) async throws -> PartRecord?
    func parts(uploadID: String) async throws -> [PartRecord]
    /// Makes `record` the object and removes the upload; returns its parts and the replaced
    /// object's blob when it differs from the new one.
    func completeUpload(_ uploadID: String, record: ObjectRecord, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws -> (parts: [PartRecord], replaced: String?)
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
}

public enum CatalogError: Error, Sendable, Equatable {
    case bucketExists
    case noSuchBucket
    case bucketNotEmpty
    case noSuchUpload
    /// A row the catalog cannot interpret; the request fails rather than guess.
    case corrupt(String)
}
