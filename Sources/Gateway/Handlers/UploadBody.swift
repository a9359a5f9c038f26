import Crypto
import Datasets
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import S3Protocol

/// What an upload promises about its body, taken from the verified request headers.
struct UploadExpectations: Sendable {
    var payload: PayloadMode
    var signing: ChunkedBodyVerifier.Signing?
    /// Content-Length, or x-amz-decoded-content-length for aws-chunked bodies.
    var decodedLength: Int64?
    var contentMD5: [UInt8]?
    /// A checksum given in a header, to verify.
    var checksum: ChecksumValue?
    /// The algorithm to compute (header value, trailer, or upload's algorithm).
    var checksumAlgorithm: ChecksumAlgorithm?
    var declaredTrailers: [String]
}

/// Where the verified body's digests appear once the body has been consumed.
final class UploadDigestsBox: Sendable {
    private let value = NIOLockedValueBox<BodyDigests?>(nil)
    func set(_ d: BodyDigests) { value.withLockedValue { $0 = d } }
    var digests: BodyDigests? { value.withLockedValue { $0 } }
}

/// The request body as the backend should store it: aws-chunked framing removed, chunk and
/// trailer signatures checked, and every promised digest (signed SHA-256, Content-MD5,
/// `x-amz-checksum-*`, length) verified when the body ends. A failed check throws from the
/// last `next()`, so the store discards what it wrote: nothing half-checked becomes visible.
struct UploadBody<Source: AsyncSequence & Sendable>: AsyncSequence, Sendable where Source.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let source: Source
    let expect: UploadExpectations
    let result: UploadDigestsBox

    func makeAsyncIterator() -> Iterator {
        Iterator(base: source.makeAsyncIterator(), expect: expect, result: result)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Source.AsyncIterator
        let expect: UploadExpectations
        let result: UploadDigestsBox
        var decoder: AWSChunkedDecoder?
        var verifier: ChunkedBodyVerifier?
        var pending: [ByteBuffer] = []
        var md5 = Insecure.MD5()
        var sha256: SHA256?
        var checksum: ChecksumHasher?
        var length: Int64 = 0
        var finished = false

        init(base: Source.AsyncIterator, expect: UploadExpectations, result: UploadDigestsBox) {
            self.base = base
            self.expect = expect
            self.result = result
            if case .signed = expect.payload { sha256 = SHA256() }
            if case .streaming(_, let trailer) = expect.payload {
                decoder = AWSChunkedDecoder()
                verifier = ChunkedBodyVerifier(signing: expect.signing, expectTrailer: trailer, declaredTrailers: expect.declaredTrailers)
            }
            checksum = expect.checksumAlgorithm.map(ChecksumHasher.init)
        }

        mutating func next() async throws -> ByteBuffer? {
            while true {
                if !pending.isEmpty {
                    return account(pending.removeFirst())
                }
                if finished { return nil }
                guard let buffer = try await base.next() else {
                    try finish()
                    finished = true
                    return nil
                }
                if decoder != nil {
                    try decodeChunked(buffer)
                } else {
                    return account(buffer)
                }
            }
        }

        private mutating func decodeChunked(_ buffer: ByteBuffer) throws {
            guard var decoder, var verifier else { return }
            let events: [AWSChunkedDecoder.Event]
            do {
                events = try decoder.feed(buffer)
            } catch {
                throw S3Error(.incompleteBody, "The aws-chunked body is malformed (\(error)).")
            }
            for event in events {
                if let data = try verifier.consume(event) { pending.append(data) }
            }
            self.decoder = decoder
            self.verifier = verifier
        }

        private mutating func account(_ buffer: ByteBuffer) -> ByteBuffer {
            length += Int64(buffer.readableBytes)
            buffer.withUnsafeReadableBytes { raw in
                md5.update(bufferPointer: raw)
                sha256?.update(bufferPointer: raw)
                checksum?.update(raw)
            }
            return buffer
        }

        private mutating func finish() throws {
            if let decoder {
                guard decoder.isComplete else { throw S3Error(.incompleteBody, "The request body ended before its final chunk.") }
            }
            if let expected = expect.decodedLength, expected != length {
                throw S3Error(.incompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
            }
            if case .signed(let hex) = expect.payload, let sha256 {
                guard constantTimeEqual(Array(Hex.encode(sha256.finalize()).utf8), Array(hex.utf8)) else {
                    throw S3Error(.xAmzContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
                }
            }
            let md5Digest = Array(md5.finalize())
            if let want = expect.contentMD5, !constantTimeEqual(want, md5Digest) {
                throw S3Error(.badDigest, "The Content-MD5 you specified did not match what we received.")
            }
            var value: ChecksumValue?
            if let checksum {
                let computed = ChecksumValue(algorithm: checksum.algorithm, digest: checksum.finalize())
                var given = expect.checksum
                if given == nil, let trailer = verifier?.trailers.first(where: { $0.0 == checksum.algorithm.headerName }) {
                    guard let parsed = ChecksumValue.parse(algorithm: checksum.algorithm, header: trailer.1) else {
                        throw S3Error(.invalidRequest, "Value for \(checksum.algorithm.headerName) trailing header is invalid.")
                    }
                    given = parsed
                }
                if let given, !constantTimeEqual(Array(given.base64.utf8), Array(computed.base64.utf8)) {
                    throw S3Error(.badDigest, "The \(checksum.algorithm.rawValue) you specified did not match the calculated checksum.")
                }
                value = computed
            }
            result.set(BodyDigests(length: length, md5: md5Digest, checksum: value))
        }
    }
}
