import Catalog
import NIOCore
import S3Protocol

/// A plaintext body on its way in: how long it says it is, its bytes, and what was verified
/// about them once they have all been read. `digests` throws when a check failed (a length,
/// signature or checksum the sender promised); the layer then discards what it wrote.
public struct IncomingBody<Bytes: AsyncSequence & Sendable>: Sendable where Bytes.Element == ByteBuffer {
    public var length: Int64
    public var bytes: Bytes
    public var digests: @Sendable () throws -> BodyDigests

    public init(length: Int64, bytes: Bytes, digests: @escaping @Sendable () throws -> BodyDigests) {
        self.length = length
        self.bytes = bytes
        self.digests = digests
    }
}

/// Digests of a body that was read to its end and passed every check.
public struct BodyDigests: Sendable, Equatable {
    public var length: Int64
    public var md5: [UInt8]
    public var checksum: ChecksumValue?

    public init(length: Int64, md5: [UInt8], checksum: ChecksumValue?) {
        self.length = length
        self.md5 = md5
        self.checksum = checksum
    }
}

/// A check of a write against the object it replaces (nil: none), run before any byte is read
/// and again inside the commit's transaction, so a conditional write is atomic. What it throws
/// reaches the caller unchanged.
public typealias WritePrecondition = @Sendable (ObjectRecord?) throws -> Void
