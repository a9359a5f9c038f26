import Foundation
import S3Protocol

public struct BucketRecord: Sendable, Equatable {
    public var name: String
    public var region: String
    public var created: Date

    public init(name: String, region: String, created: Date) {
        self.name = name
        self.region = region
        self.created = created
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
    public var blob: String
    public var partsCount: Int?

    public init(bucket: String, key: String, size: Int64, etag: String, lastModified: Date, headers: ObjectHeaders,
                checksum: ChecksumValue?, checksumType: String?, blob: String, partsCount: Int?) {
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

    public init(uploadID: String, bucket: String, key: String, initiated: Date, headers: ObjectHeaders,
                checksumAlgorithm: ChecksumAlgorithm?, checksumType: String?) {
        self.uploadID = uploadID
        self.bucket = bucket
        self.key = key
        self.initiated = initiated
        self.headers = headers
        self.checksumAlgorithm = checksumAlgorithm
        self.checksumType = checksumType
    }
}

public struct PartRecord: Sendable, Equatable {
    public var uploadID: String
    public var partNumber: Int
    public var size: Int64
    public var etag: String
    public var lastModified: Date
    public var checksum: ChecksumValue?
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
    /// Throws BucketNotEmpty while objects remain; returns blobs of aborted uploads to delete.
    func deleteBucket(_ name: String) async throws -> [String]

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
    /// Replaces a part of the same number; returns the replaced part's blob.
    func putPart(_ part: PartRecord) async throws -> String?
    func parts(uploadID: String) async throws -> [PartRecord]
    /// Makes `record` the object and removes the upload; returns blobs to delete
    /// (every part blob and the replaced object's blob).
    func completeUpload(_ uploadID: String, record: ObjectRecord, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws -> [String]
    /// Removes the upload; returns its part blobs.
    func abortUpload(_ uploadID: String) async throws -> [String]
    func uploads(bucket: String) async throws -> [UploadRecord]

    /// Every blob a row refers to (objects and parts), for garbage collection.
    func referencedBlobs() async throws -> Set<String>
}

public enum CatalogError: Error, Sendable, Equatable {
    case bucketExists
    case noSuchBucket
    case bucketNotEmpty
    case noSuchUpload
}
