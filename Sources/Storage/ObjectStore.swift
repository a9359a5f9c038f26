import NIOCore
import S3Protocol

/// What a backend can and cannot do; the gateway adapts to it (DESIGN.md §2).
public struct StoreCapabilities: Sendable, Equatable {
    /// Largest blob written in one request.
    public var maxSinglePut: Int64
    /// Concatenation of stored blobs without passing bytes through the gateway.
    public var serverSideConcatenate: Bool

    public init(maxSinglePut: Int64, serverSideConcatenate: Bool) {
        self.maxSinglePut = maxSinglePut
        self.serverSideConcatenate = serverSideConcatenate
    }
}

/// A backend that stores opaque blobs under ids chosen by the gateway. The catalog maps
/// client keys to blob ids, so client keys never become backend names here.
///
/// Contract: `put` makes the blob durable before it returns, and makes nothing visible if
/// the body sequence throws (a failed checksum, a truncated upload): the caller's error wins.
public protocol ObjectStore: Sendable {
    var capabilities: StoreCapabilities { get }

    /// Stores `body` under `blob`; returns the number of bytes written.
    func put<Body: AsyncSequence & Sendable>(blob: String, body: Body) async throws -> Int64
        where Body.Element == ByteBuffer

    /// Opens the blob (or `range` of it) for reading. Opening happens now, so a blob deleted
    /// after this call (an overwrite) still reads in full.
    func open(blob: String, range: ByteRange?) async throws -> BlobStream

    /// Size of a stored blob, nil when absent.
    func size(blob: String) async throws -> Int64?

    /// Writes the concatenation of `parts` (whole blobs, or a byte range of one) as `blob`.
    func concatenate(_ parts: [BlobSlice], into blob: String) async throws -> Int64

    /// Deletes a blob; absent blobs are not an error.
    func delete(blob: String) async throws

    /// Every blob id, for garbage collection of blobs no catalog row refers to.
    func allBlobs() async throws -> [String]
}

public struct BlobSlice: Sendable, Equatable {
    public var blob: String
    public var range: ByteRange?

    public init(blob: String, range: ByteRange? = nil) {
        self.blob = blob
        self.range = range
    }
}

public enum StoreError: Error, Sendable, Equatable {
    case notFound(String)
    case io(String)
}

/// A pull-based stream of a blob's bytes: one `next()` per chunk, so the consumer's pace
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
