import Crypto
import Foundation
import NIOCore

/// Checks what an aws-chunked body promises, event by event (pure; fed by `AWSChunkedDecoder`):
/// every chunk signature in the chain (signed streams), the trailer signature, the declared
/// decoded length, and collects trailer checksums for the caller to compare.
public struct ChunkedBodyVerifier: Sendable {
    public struct Signing: Sendable {
        public var key: SymmetricKey
        public var scope: CredentialScope
        public var timestamp: String
        public var seedSignature: String

        public init(key: SymmetricKey, scope: CredentialScope, timestamp: String, seedSignature: String) {
            self.key = key
            self.scope = scope
            self.timestamp = timestamp
            self.seedSignature = seedSignature
        }
    }

    private let signing: Signing?
    private let expectTrailer: Bool
    private let declaredTrailers: Set<String>
    private var previousSignature: String
    private var chunkSignature: String?
    private var chunkHash = SHA256()
    private var chunkBytes = 0
    private var declaredChunkSize = 0
    public private(set) var decodedLength: Int64 = 0
    public private(set) var trailers: [(String, String)] = []
    private var trailerSignature: String?
    private var sawFinalChunk = false

    /// - Parameters:
    ///   - signing: present for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
    ///   - declaredTrailers: the names in `x-amz-trailer`; only those may appear.
    public init(signing: Signing?, expectTrailer: Bool, declaredTrailers: [String]) {
        self.signing = signing
        self.expectTrailer = expectTrailer
        self.declaredTrailers = Set(declaredTrailers.map { $0.lowercased().trimmingSpaces() })
        self.previousSignature = signing?.seedSignature ?? ""
    }

    /// Returns the payload bytes carried by the event (nil for framing events).
    public mutating func consume(_ event: AWSChunkedDecoder.Event) throws(S3Error) -> ByteBuffer? {
        switch event {
        case .chunkStart(let size, let signature):
            guard !sawFinalChunk else { throw S3Error(.incompleteBody, "Data after the final chunk.") }
            if signing != nil, signature == nil {
                throw S3Error(.signatureDoesNotMatch, "A chunk of a signed stream has no chunk-signature.")
            }
            chunkSignature = signature
            declaredChunkSize = size
            chunkBytes = 0
            if signing != nil { chunkHash = SHA256() }
            if size == 0 { sawFinalChunk = true }
            return nil
        case .data(let buffer):
            chunkBytes += buffer.readableBytes
            decodedLength += Int64(buffer.readableBytes)
            if signing != nil { buffer.withUnsafeReadableBytes { chunkHash.update(bufferPointer: $0) } }
            return buffer
        case .chunkEnd:
            guard chunkBytes == declaredChunkSize else { throw S3Error(.incompleteBody, "Chunk shorter than declared.") }
            if let signing {
                let digest = Hex.encode(chunkHash.finalize())
                let sts = SigV4.chunkStringToSign(
                    timestamp: signing.timestamp, scope: signing.scope,
                    previousSignature: previousSignature, chunkSHA256: digest)
                let expected = SigV4.sign(sts, key: signing.key)
                guard let given = chunkSignature, constantTimeEqual(Array(expected.utf8), Array(given.utf8)) else {
                    throw S3Error(.signatureDoesNotMatch, "The chunk signature we calculated does not match the signature you provided.")
                }
                previousSignature = expected
            }
            return nil
        case .trailer(let name, let value):
            if name == "x-amz-trailer-signature" {
                trailerSignature = value
            } else {
                guard declaredTrailers.contains(name) else {
                    throw S3Error(.invalidRequest, "The trailer '\(name)' was not declared in x-amz-trailer.")
                }
                trailers.append((name, value))
            }
            return nil
        case .end:
            guard sawFinalChunk else { throw S3Error(.incompleteBody, "The body ended before its final chunk.") }
            if expectTrailer {
                for name in declaredTrailers where !trailers.contains(where: { $0.0 == name }) {
                    throw S3Error(.invalidRequest, "The declared trailer '\(name)' is missing.")
                }
            }
            if let signing, expectTrailer {
                var canonical = ""
                for (n, v) in trailers { canonical += "\(n):\(v)\n" }
                let sts = SigV4.trailerStringToSign(
                    timestamp: signing.timestamp, scope: signing.scope,
                    previousSignature: previousSignature, trailerSHA256: SigV4.sha256Hex(canonical))
                let expected = SigV4.sign(sts, key: signing.key)
                guard let given = trailerSignature, constantTimeEqual(Array(expected.utf8), Array(given.lowercased().utf8)) else {
                    throw S3Error(.signatureDoesNotMatch, "The trailer signature we calculated does not match the signature you provided.")
                }
            }
            return nil
        }
    }
}
