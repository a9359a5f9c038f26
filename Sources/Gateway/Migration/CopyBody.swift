import Crypto
import NIOConcurrencyHelpers
import NIOCore
import Replication

/// Plaintext on its way from one placement to the other: counted, hashed (MD5, the S3 ETag of
/// a single PUT) unless the store hashes what it receives anyway, and paced by the backfill's
/// bandwidth limit. The digest appears in `result` once the stream has been read to its end.
struct CopyBody<Source: AsyncSequence & Sendable>: AsyncSequence, Sendable where Source.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let source: Source
    let limiter: RateLimiter?
    let hashing: Bool
    let result: Digests

    final class Digests: Sendable {
        private let box = NIOLockedValueBox<(md5: [UInt8]?, bytes: Int64)?>(nil)
        func set(_ v: (md5: [UInt8]?, bytes: Int64)) { box.withLockedValue { $0 = v } }
        var value: (md5: [UInt8]?, bytes: Int64)? { box.withLockedValue { $0 } }
    }

    func makeAsyncIterator() -> Iterator {
        Iterator(base: source.makeAsyncIterator(), limiter: limiter, md5: hashing ? Insecure.MD5() : nil, result: result)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Source.AsyncIterator
        let limiter: RateLimiter?
        var md5: Insecure.MD5?
        let result: Digests
        var bytes: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else {
                result.set((md5.map { Array($0.finalize()) }, bytes))
                return nil
            }
            if md5 != nil { chunk.withUnsafeReadableBytes { md5?.update(bufferPointer: $0) } }
            bytes += Int64(chunk.readableBytes)
            try await limiter?.take(chunk.readableBytes)
            return chunk
        }
    }
}
