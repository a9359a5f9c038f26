import NIOCore
import S3Protocol

/// A backend holding objects under names in one container (a directory, an S3 bucket, an
/// Azure container). The gateway chooses the names (DESIGN.md §3: random ids for the local
/// store, `prefix + key` for a `native` placement) and keeps what clients see in the catalog.
///
/// Contract for every write: nothing becomes visible if the body sequence throws (a failed
/// checksum, a truncated upload); the caller's error wins. A write that returns is durable.
/// Retryable failures (5xx, throttling, a reset connection) are retried inside the store when
/// the bytes can be replayed; what reaches the caller is a `StoreError`.
public protocol ObjectStore: Sendable {
    var capabilities: StoreCapabilities { get }

    /// Stores exactly `length` bytes of `body` as `name`, replacing any object of that name.
    func put<Body: AsyncSequence & Sendable>(name: String, length: Int64, body: Body, attributes: BlobAttributes) async throws -> StoredObject
    where Body.Element == ByteBuffer

    /// Opens `name` (or `range` of it) for reading. With `ifMatch`, a backend object whose
    /// ETag differs (changed outside the gateway) is refused with `StoreError.changed`.
    func open(name: String, range: ByteRange?, ifMatch: String?) async throws -> BlobStream

    /// Size and ETag of a stored object, nil when absent.
    func head(name: String) async throws -> StoredObject?

    /// Deletes objects; absent names are not an error.
    func delete(names: [String]) async throws

    /// Server-side copy of a whole object (`capabilities.serverSideCopy`) of `length` bytes,
    /// the size the caller knows it by.
    func copy(from: String, to: String, length: Int64, attributes: BlobAttributes) async throws -> StoredObject

    /// Names starting with `prefix`, in the backend's order, at most `limit`, from `marker`
    /// (the previous page's `nextMarker`, opaque).
    func list(prefix: String, marker: String?, limit: Int) async throws -> StoreListing

    // Multipart: a client's parts map onto the backend's own parts (S3 multipart, Azure block
    // list, local blobs concatenated). `token` identifies a stored part to the backend.

    /// Starts a parted upload of `name`; returns the backend's upload id.
    func startParts(name: String, attributes: BlobAttributes) async throws -> String
    func putPart<Body: AsyncSequence & Sendable>(name: String, upload: String, number: Int, length: Int64, body: Body) async throws -> PartToken
    where Body.Element == ByteBuffer
    /// Commits the parts, in order, as the object `name` (with `attributes`, for a backend that
    /// sets them at commit).
    func finishParts(name: String, upload: String, parts: [PartToken], attributes: BlobAttributes) async throws -> StoredObject
    func abortParts(name: String, upload: String, parts: [PartToken]) async throws
    /// Forgets a part replaced by a re-upload of the same number.
    func discardPart(_ part: PartToken) async throws

    /// Whether `put` of a body of `length` bytes has the backend check `BlobAttributes.contentMD5`
    /// (and then reports it as the stored object's MD5). False unless a store says so.
    func checksContentMD5(length: Int64) -> Bool
}

/// Objects up to this size go to a remote backend in one streamed request, larger ones in
/// parts. 65 MiB rather than 64: an object sealed from 64 MiB of plaintext (16 bytes more per
/// 16 KiB, 64 MiB + 64 KiB) should travel like its plaintext would, not pay for buffered,
/// MD5-hashed parts (measured: 0.73x the plaintext PUT rate instead of ~1x).
public let singleRequestLimit: Int64 = 65 << 20

extension ObjectStore {
    public func checksContentMD5(length: Int64) -> Bool { false }

    public func delete(name: String) async throws {
        try await delete(names: [name])
    }

    /// Every object whose name starts with `prefix`, all pages read.
    public func listAll(prefix: String) async throws -> [StoredObject] {
        var all: [StoredObject] = []
        var marker: String?
        repeat {
            let page = try await list(prefix: prefix, marker: marker, limit: 1000)
            all += page.objects.filter { $0.name.hasPrefix(prefix) }
            marker = page.nextMarker
        } while marker != nil
        return all
    }
}

/// A stored part: its number and what the backend needs to commit it (S3 part ETag, Azure
/// block id, local blob id).
public struct PartToken: Sendable, Equatable {
    public var number: Int
    public var token: String
    /// The part's MD5 as the backend computed it, when it reports one.
    public var md5: [UInt8]?

    public init(number: Int, token: String, md5: [UInt8]? = nil) {
        self.number = number
        self.token = token
        self.md5 = md5
    }
}

/// One page of a backend listing.
public struct StoreListing: Sendable, Equatable {
    public var objects: [StoredObject]
    /// Where the next page starts; nil on the last page.
    public var nextMarker: String?

    public init(objects: [StoredObject], nextMarker: String?) {
        self.objects = objects
        self.nextMarker = nextMarker
    }
}

/// What the backend reports about a stored object.
public struct StoredObject: Sendable, Equatable {
    public var name: String
    public var size: Int64
    /// The backend's ETag (quoted as sent), when it has one; the gateway uses it to detect an
    /// object changed behind its back.
    public var etag: String?
    /// The MD5 of the content as the backend computed it (an S3 single-request ETag, Azure's
    /// Content-MD5), when it reports one: the gateway compares it with its own.
    public var md5: [UInt8]?

    public init(name: String, size: Int64, etag: String?, md5: [UInt8]? = nil) {
        self.name = name
        self.size = size
        self.etag = etag
        self.md5 = md5
    }
}

/// Headers a backend can keep natively next to an object (the catalog stays the truth).
public struct BlobAttributes: Sendable, Equatable {
    public var contentType: String?
    public var metadata: [String: String]
    /// The body's MD5 when the writer already knows it (a copy's catalog ETag). A store that
    /// `checksContentMD5(length:)` sends it as Content-MD5 instead of hashing the body: the
    /// backend then refuses bytes that differ from it (end to end, for no CPU here).
    public var contentMD5: [UInt8]?

    public init(contentType: String? = nil, metadata: [String: String] = [:], contentMD5: [UInt8]? = nil) {
        self.contentType = contentType
        self.metadata = metadata
        self.contentMD5 = contentMD5
    }

    public static let none = BlobAttributes()
}

/// What a backend can and cannot do; the clients adapt to it (DESIGN.md §2).
public struct StoreCapabilities: Sendable, Equatable {
    /// Largest object written in one request; larger ones become parted uploads.
    public var maxSinglePut: Int64
    /// Part size the store chooses when it splits an upload itself.
    public var partSize: Int64
    public var minPartSize: Int64
    public var maxPartSize: Int64
    /// Highest part number (S3: 10000; OpenStack Swift's s3api: 1000).
    public var maxPartNumber: Int
    /// Parts uploaded at once when the store splits an upload itself.
    public var partParallelism: Int
    /// DeleteObjects must carry Content-MD5 (OpenStack Swift's s3api); else a CRC32 checksum.
    public var needsContentMD5OnDelete: Bool
    /// Accepts `Content-Encoding: aws-chunked` bodies with trailers.
    public var acceptsAWSChunked: Bool
    /// Most names one list request returns.
    public var maxListPage: Int
    /// Copies objects without the bytes passing through the gateway.
    public var serverSideCopy: Bool
    /// A listing reflects every completed write at once.
    public var strongListAfterWrite: Bool
    /// A single-request upload's ETag is the body's MD5, so the gateway can check it end to end.
    public var etagIsMD5: Bool
    /// A single PUT's `x-amz-checksum-crc32c` is checked (the PUT refused when it differs): the
    /// transport check of bodies the gateway has no MD5 for, at a fraction of MD5's cost.
    public var checksCRC32C: Bool

    public init(
        maxSinglePut: Int64, partSize: Int64, minPartSize: Int64, maxPartSize: Int64, maxPartNumber: Int,
        partParallelism: Int, needsContentMD5OnDelete: Bool, acceptsAWSChunked: Bool, maxListPage: Int,
        serverSideCopy: Bool, strongListAfterWrite: Bool, etagIsMD5: Bool, checksCRC32C: Bool = false
    ) {
        self.maxSinglePut = maxSinglePut
        self.partSize = partSize
        self.minPartSize = minPartSize
        self.maxPartSize = maxPartSize
        self.maxPartNumber = maxPartNumber
        self.partParallelism = partParallelism
        self.needsContentMD5OnDelete = needsContentMD5OnDelete
        self.acceptsAWSChunked = acceptsAWSChunked
        self.maxListPage = maxListPage
        self.serverSideCopy = serverSideCopy
        self.strongListAfterWrite = strongListAfterWrite
        self.etagIsMD5 = etagIsMD5
        self.checksCRC32C = checksCRC32C
    }

    static let MiB: Int64 = 1 << 20

    /// AWS S3's documented limits and flexible checksums; SeaweedFS and MinIO accept the same.
    public static let s3 = StoreCapabilities(
        maxSinglePut: 5 * 1024 * MiB, partSize: 8 * MiB, minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB,
        maxPartNumber: 10_000, partParallelism: 4, needsContentMD5OnDelete: false, acceptsAWSChunked: true,
        maxListPage: 1000, serverSideCopy: true, strongListAfterWrite: true, etagIsMD5: true, checksCRC32C: true)

    /// OpenStack Swift's s3api middleware (2.30): no aws-chunked, Content-MD5 on DeleteObjects,
    /// at most 1000 parts (`max_upload_part_num`), objects up to 5 GiB per request.
    public static let swift = StoreCapabilities(
        maxSinglePut: 5 * 1024 * MiB, partSize: 8 * MiB, minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB,
        maxPartNumber: 1000, partParallelism: 4, needsContentMD5OnDelete: true, acceptsAWSChunked: false,
        maxListPage: 1000, serverSideCopy: true, strongListAfterWrite: true, etagIsMD5: true)

    /// Azure Block Blob (service version 2021-08-06 and later): Put Blob up to 5000 MiB, blocks
    /// up to 4000 MiB, 50 000 blocks, List Blobs pages of 5000.
    public static let azure = StoreCapabilities(
        maxSinglePut: 5000 * MiB, partSize: 8 * MiB, minPartSize: 1, maxPartSize: 4000 * MiB,
        maxPartNumber: 50_000, partParallelism: 4, needsContentMD5OnDelete: false, acceptsAWSChunked: false,
        maxListPage: 5000, serverSideCopy: true, strongListAfterWrite: true, etagIsMD5: false)

    /// The local filesystem store.
    public static let local = StoreCapabilities(
        maxSinglePut: 5 * 1024 * 1024 * MiB, partSize: 8 * MiB, minPartSize: 1, maxPartSize: 5 * 1024 * MiB,
        maxPartNumber: 10_000, partParallelism: 1, needsContentMD5OnDelete: false, acceptsAWSChunked: false,
        maxListPage: 100_000, serverSideCopy: true, strongListAfterWrite: true, etagIsMD5: false)
}

public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case io(String)
    /// The backend could not be reached or kept failing (5xx, throttling, reset): worth retrying later.
    case unavailable(String)
    /// The backend refused the request (credentials, missing container, bad name): an operator must act.
    case rejected(status: Int, code: String, message: String)
    /// The object on the backend is not the one the catalog describes.
    case changed(String)

    public var description: String {
        switch self {
        case .notFound(let s): "not found: \(s)"
        case .io(let s): "I/O error: \(s)"
        case .unavailable(let s): "backend unavailable: \(s)"
        case .rejected(let status, let code, let message): "backend refused the request: \(status) \(code) \(message)"
        case .changed(let s): "backend object changed outside the gateway: \(s)"
        }
    }
}

/// A pull-based stream of an object's bytes: one `next()` per chunk, so the consumer's pace
/// (a slow client, a hashing pipeline) is the producer's pace.
public struct BlobStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    private let pull: @Sendable () async throws -> ByteBuffer?
    public let length: Int64

    public init(length: Int64, pull: @escaping @Sendable () async throws -> ByteBuffer?) {
        self.length = length
        self.pull = pull
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pull: @Sendable () async throws -> ByteBuffer?
        public mutating func next() async throws -> ByteBuffer? { try await pull() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pull: pull) }
}
