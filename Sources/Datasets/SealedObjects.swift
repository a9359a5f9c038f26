import Catalog
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import S3Protocol
import Sealing
import Storage

/// The keys of one sealed dataset: fresh DEKs for new objects, wrapped under the dataset's
/// current KEK version, and DEKs of stored objects unwrapped under the version that wrapped
/// them. The keyring is re-read when it changes on disk (a rotation by `passerelle keys`).
public struct DatasetSealer: Sendable {
    public let dataset: String
    public let keyring: KeyringFile

    public init(dataset: String, keyring: KeyringFile) {
        self.dataset = dataset
        self.keyring = keyring
    }

    /// The header object of the payload stored as `blob`.
    public static func headerName(of blob: String) -> String { blob + ".h" }

    /// The payload a backend name belongs to: itself, or the payload of a header object.
    public static func payloadName(of name: String) -> String {
        name.hasSuffix(".h") ? String(name.dropLast(2)) : name
    }

    /// A new object's keys and seal (its segments are filled in when its size is known).
    public func newObject() throws -> (ObjectKeys, SealRecord) {
        let kek = try keyring.read().current(dataset)
        let dek = SymmetricKey(size: .bits256)
        let nonce = (0..<SealedFormat.nonceSize).map { _ in UInt8.random(in: 0...255) }
        return (try ObjectKeys(dek: dek, nonce: nonce), SealRecord(nonce: nonce, key: try kek.wrap(dek, objectNonce: nonce), segments: []))
    }

    public func dek(_ seal: SealRecord) throws -> SymmetricKey {
        guard seal.format == SealedFormat.version else { throw SealingError.unsupportedVersion(seal.format) }
        guard seal.key.kekID == dataset else { throw SealingError.wrongKey("the object's key belongs to dataset '\(seal.key.kekID)'") }
        return try keyring.read().kek(dataset, version: seal.key.version).unwrap(seal.key, objectNonce: seal.nonce)
    }

    /// Throws `shredded` (or `unknownKey`) when the KEK version of `seal` is gone.
    public func requireKey(_ seal: SealRecord) throws {
        _ = try keyring.read().kek(dataset, version: seal.key.version)
    }

    public func keys(_ seal: SealRecord) throws -> ObjectKeys {
        try ObjectKeys(dek: try dek(seal), nonce: seal.nonce)
    }

    /// The header object of a sealed object: keys, wrapped DEK and the record's metadata.
    public func header(for record: ObjectRecord, seal: SealRecord) throws -> [UInt8] {
        let metadata = SealedMetadata(
            object: Self.objectID(of: record.blob), key: record.key, size: record.size, etag: record.etag,
            lastModified: record.lastModified.timeIntervalSince1970, contentType: record.headers.contentType,
            headers: record.headers.standard, user: record.headers.user, checksumAlgorithm: record.checksum?.algorithm.rawValue,
            checksum: record.checksum?.base64, checksumType: record.checksumType, partsCount: record.partsCount, segments: seal.segments)
        return try Envelope.seal(keys: try keys(seal), wrapped: seal.key, metadata: metadata)
    }

    /// Writes (or replaces) the header object of `record`'s payload with `seal`.
    public func writeHeader(for record: ObjectRecord, seal: SealRecord, to store: any ObjectStore) async throws {
        let bytes = try header(for: record, seal: seal)
        _ = try await store.put(
            name: Self.headerName(of: record.blob), length: Int64(bytes.count),
            body: BufferSequence(ByteBuffer(bytes: bytes)), attributes: .none)
    }

    /// The id part of a backend name (after the placement's prefix).
    public static func objectID(of blob: String) -> String {
        String(blob.split(separator: "/").last ?? Substring(blob))
    }
}

extension SealRecord {
    /// The seal of an object stored as one segment of `size` bytes (a single PUT or a copy).
    public func single(size: Int64) -> SealRecord {
        var s = self
        s.segments = [Segment(number: 0, size: size)]
        return s
    }
}

/// A plaintext body sealed as one segment on its way to the backend.
public struct SealingBody<Source: AsyncSequence & Sendable>: AsyncSequence, Sendable where Source.Element == ByteBuffer {
    public typealias Element = ByteBuffer
    let source: Source
    let sealer: SegmentSealer
    static var batch: Int { 256 * 1024 }

    public init(source: Source, sealer: SegmentSealer) {
        self.source = source
        self.sealer = sealer
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(base: source.makeAsyncIterator(), sealer: sealer)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: Source.AsyncIterator
        var sealer: SegmentSealer
        var out = ByteBuffer()
        var done = false

        public mutating func next() async throws -> ByteBuffer? {
            while !done {
                guard let buffer = try await base.next() else {
                    try sealer.finish { out.writeBytes($0) }
                    done = true
                    break
                }
                if out.capacity == 0 { out.reserveCapacity(SealingBody.batch + 2 * SealedFormat.sealedChunkSize) }
                try buffer.withUnsafeReadableBytes { raw in try sealer.feed(raw) { out.writeBytes($0) } }
                if out.readableBytes >= SealingBody.batch { return flush() }
            }
            return out.readableBytes == 0 ? nil : flush()
        }

        private mutating func flush() -> ByteBuffer {
            defer { out = ByteBuffer() }
            return out
        }
    }
}

/// Reads plaintext from a sealed payload: every chunk is authenticated before its bytes are
/// released; a failure is reported (integrity alert) and thrown.
final class SealedReader: @unchecked Sendable {
    // @unchecked: `next()` is only called by the one task iterating the BlobStream, each call
    // after the previous one returned, so `base`, `opener` and `ready` are never accessed concurrently.
    private var base: BlobStream.AsyncIterator
    private var opener: PayloadOpener
    private var ready: [ByteBuffer] = []
    private var finished = false
    private let report: @Sendable (SealingError) -> Void

    init(base: BlobStream, opener: PayloadOpener, report: @escaping @Sendable (SealingError) -> Void) {
        self.base = base.makeAsyncIterator()
        self.opener = opener
        self.report = report
    }

    func next() async throws -> ByteBuffer? {
        while ready.isEmpty && !finished {
            var out = ByteBuffer()
            do {
                if let buffer = try await base.next() {
                    out.reserveCapacity(buffer.readableBytes)
                    try buffer.withUnsafeReadableBytes { raw in try opener.feed(raw) { out.writeBytes($0) } }
                } else {
                    try opener.finish()
                    finished = true
                }
            } catch let e as SealingError {
                report(e)
                throw e
            }
            if out.readableBytes > 0 { ready.append(out) }
        }
        return ready.isEmpty ? nil : ready.removeFirst()
    }

    /// Opens the plaintext of `range` (whole object when nil) of a sealed object. The backend
    /// length is checked and the first chunk decrypted before this returns, so a wrong key, a
    /// foreign or truncated object fails before any response starts.
    static func open(
        _ record: ObjectRecord, range: ByteRange?, placement: ResolvedPlacement, sealer: DatasetSealer,
        report: @escaping @Sendable (SealingError) -> Void
    ) async throws -> BlobStream {
        guard let seal = record.seal else {
            report(.malformed("no seal"))
            throw SealingError.malformed("the catalog has no seal for '\(record.key)' on a sealed placement")
        }
        let layout = PayloadLayout(segments: seal.segments)
        let keys: ObjectKeys
        do {
            guard layout.plaintextSize == record.size else { throw SealingError.malformed("segments do not add up to the object's size") }
            keys = try sealer.keys(seal)
        } catch let e as SealingError {
            report(e)
            throw e
        }
        let span: PayloadLayout.Span
        let stream: BlobStream
        if let range, record.size > 0 {
            guard let s = layout.span(first: range.start, last: range.end) else { throw SealingError.malformed("range outside the object") }
            span = s
            stream = try await placement.store.open(
                name: record.blob, range: ByteRange(start: s.sealedFirst, end: s.sealedLast), ifMatch: record.backendETag)
        } else {
            span = layout.whole()
            stream = try await placement.store.open(name: record.blob, range: nil, ifMatch: record.backendETag)
        }
        guard stream.length == span.sealedLength || stream.length < 0 else {
            let e: SealingError = stream.length < span.sealedLength ? .truncated : .extended
            report(e)
            throw e
        }
        let reader = SealedReader(base: stream, opener: PayloadOpener(keys: keys, span: span), report: report)
        let first = try await reader.next()
        let pending = NIOLockedValueBox(first)
        return BlobStream(length: span.plainLength) {
            if let held = pending.withLockedValue({ b -> ByteBuffer? in
                defer { b = nil }
                return b
            }) {
                return held
            }
            return try await reader.next()
        }
    }
}
