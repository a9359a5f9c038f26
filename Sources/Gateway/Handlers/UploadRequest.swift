import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol
import Storage

/// S3's limit for one PutObject or UploadPart body.
let maxSingleUpload: Int64 = 5 * 1024 * 1024 * 1024

extension S3Dispatcher {
    /// Reads what the headers promise about the body; refuses what S3 refuses before a byte is read.
    func uploadExpectations(_ call: S3Call, defaultAlgorithm: ChecksumAlgorithm? = nil) throws -> UploadExpectations {
        let payload = call.signature.payload
        var decodedLength: Int64?
        if case .streaming = payload {
            guard let d = call.header("x-amz-decoded-content-length"), let v = Int64(d), v >= 0 else {
                throw S3Error(
                    .missingContentLength, "You must provide the Content-Length HTTP header (x-amz-decoded-content-length for aws-chunked).")
            }
            decodedLength = v
        } else if let cl = call.request.headers[.contentLength] {
            guard let v = Int64(cl), v >= 0 else { throw S3Error(.invalidArgument, "Content-Length is not a number.") }
            decodedLength = v
        } else if call.request.headers[.transferEncoding] == nil {
            decodedLength = 0
        } else {
            throw S3Error(.missingContentLength, "You must provide the Content-Length HTTP header.")
        }
        if let d = decodedLength, d > maxSingleUpload {
            throw S3Error(
                .entityTooLarge, "Your proposed upload exceeds the maximum allowed size",
                details: [("ProposedSize", String(d)), ("MaxSizeAllowed", String(maxSingleUpload))])
        }
        var md5: [UInt8]?
        if let m = call.header("content-md5") {
            guard let data = Data(base64Encoded: m.trimmingCharacters(in: .whitespaces)), data.count == 16 else {
                throw S3Error(.invalidDigest, "The Content-MD5 you specified is not valid.")
            }
            md5 = Array(data)
        }
        var checksum: ChecksumValue?
        for alg in ChecksumAlgorithm.allCases {
            guard let v = call.header(alg.headerName) else { continue }
            guard checksum == nil else {
                throw S3Error(.invalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
            }
            guard let parsed = ChecksumValue.parse(algorithm: alg, header: v) else {
                throw S3Error(.invalidRequest, "Value for \(alg.headerName) header is invalid.")
            }
            checksum = parsed
        }
        let trailers = (call.header("x-amz-trailer") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter
        { !$0.isEmpty }
        var algorithm = checksum?.algorithm
        for t in trailers {
            guard t.hasPrefix("x-amz-checksum-"), let alg = ChecksumAlgorithm(headerValue: String(t.dropFirst("x-amz-checksum-".count))) else {
                throw S3Error(.invalidRequest, "The value specified in the x-amz-trailer header is not supported")
            }
            guard algorithm == nil || algorithm == alg else {
                throw S3Error(.invalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
            }
            algorithm = alg
        }
        if !trailers.isEmpty {
            guard case .streaming(_, true) = payload else {
                throw S3Error(.invalidRequest, "x-amz-trailer requires a STREAMING-*-TRAILER payload.")
            }
        }
        if algorithm == nil, let sdk = call.header("x-amz-sdk-checksum-algorithm") ?? call.header("x-amz-checksum-algorithm") {
            guard let alg = ChecksumAlgorithm(headerValue: sdk) else {
                throw S3Error(.invalidRequest, "Checksum algorithm '\(sdk)' is not supported.")
            }
            algorithm = alg
        }
        var signing: ChunkedBodyVerifier.Signing?
        if case .streaming(true, _) = payload {
            let s = call.signature
            signing = .init(key: s.signingKey, scope: s.scope, timestamp: s.timestamp, seedSignature: s.signature)
        }
        return UploadExpectations(
            payload: payload, signing: signing, decodedLength: decodedLength, contentMD5: md5,
            checksum: checksum, checksumAlgorithm: algorithm ?? defaultAlgorithm, declaredTrailers: trailers)
    }

    /// The request body as the object layer takes it: aws-chunked framing removed, every
    /// promised digest checked when it ends (`UploadBody`), and `100 Continue` sent when the
    /// layer starts reading it (after the key's lock and the write's conditions).
    func incomingBody(_ call: S3Call, _ expect: UploadExpectations) throws -> IncomingBody<UploadBody<ContinueOnRead<RequestBody>>> {
        let box = UploadDigestsBox()
        let bytes = UploadBody(source: ContinueOnRead(base: call.request.body, context: call.context), expect: expect, result: box)
        return IncomingBody(length: try Self.length(expect), bytes: bytes) {
            guard let digests = box.digests else { throw S3Error(.incompleteBody, "The request body was not read to its end.") }
            return digests
        }
    }

    static func length(_ expect: UploadExpectations) throws -> Int64 {
        guard let length = expect.decodedLength else {
            throw S3Error(.missingContentLength, "You must provide the Content-Length HTTP header.")
        }
        return length
    }

    /// Content-Type, the standard headers and `x-amz-meta-*` of a write request.
    func objectHeaders(_ call: S3Call) throws -> ObjectHeaders {
        var h = ObjectHeaders()
        h.contentType = call.request.headers[.contentType]
        for name in ObjectHeaders.standardNames {
            if let v = call.header(name) { h.standard[name] = v }
        }
        var size = 0
        for field in call.request.headers where field.name.canonicalName.hasPrefix("x-amz-meta-") {
            let name = String(field.name.canonicalName.dropFirst("x-amz-meta-".count))
            let value = MetadataEncoding.decode(field.value)
            h.user[name] = h.user[name].map { "\($0),\(value)" } ?? value
            size += name.utf8.count + value.utf8.count
        }
        // S3 caps user-defined metadata at 2 KB.
        guard size <= 2048 else { throw S3Error(.invalidArgument, "Your metadata headers exceed the maximum allowed metadata size.") }
        h.tags = try requestTags(call)
        return h
    }

    /// Response headers describing an object (GET, HEAD): its stored headers, and what the
    /// representation served says of its bytes.
    func objectResponseHeaders(_ r: ObjectRecord, _ served: Representation, checksumMode: Bool) -> HTTPFields {
        var h = HTTPFields()
        h[.eTag] = served.etag
        h[.lastModified] = HTTPDate.format(served.lastModified)
        h[.contentType] = served.contentType ?? r.headers.contentType ?? "binary/octet-stream"
        h[.acceptRanges] = "bytes"
        // A view output is described by its own size, ETag and type only: the stored object's
        // metadata, tags and checksums may identify.
        if served.isView { return h }
        for (name, value) in r.headers.standard {
            if let n = HTTPField.Name(name) { h[n] = value }
        }
        for (name, value) in r.headers.user {
            if let n = HTTPField.Name("x-amz-meta-" + name) { h[n] = MetadataEncoding.encode(value) }
        }
        if let parts = served.partsCount { h[.init("x-amz-mp-parts-count")!] = String(parts) }
        if !r.headers.tags.isEmpty { h[.init("x-amz-tagging-count")!] = String(r.headers.tags.count) }
        if let lock = r.headers.lock {
            if let retention = lock.retention {
                h[.init("x-amz-object-lock-mode")!] = retention.mode.rawValue
                h[.init("x-amz-object-lock-retain-until-date")!] = HTTPDate.iso8601(retention.until)
            }
            if let hold = lock.legalHold { h[.init("x-amz-object-lock-legal-hold")!] = hold ? "ON" : "OFF" }
        }
        if checksumMode, let c = served.checksum, let n = HTTPField.Name(c.algorithm.headerName) {
            h[n] = c.base64
            if let t = served.checksumType { h[.init("x-amz-checksum-type")!] = t }
        }
        return h
    }
}

/// A request body that sends `100 Continue` (when the client waits for it) as soon as someone
/// starts reading it.
struct ContinueOnRead<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let context: S3RequestContext

    func makeAsyncIterator() -> Base.AsyncIterator {
        context.sendContinueIfExpected()
        return base.makeAsyncIterator()
    }
}
