import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol
import Sealing
import Storage

/// S3's limit for one PutObject or UploadPart body.
let maxSingleUpload: Int64 = 5 * 1024 * 1024 * 1024

extension S3Responder {
    /// Reads what the headers promise about the body; refuses what S3 refuses before a byte is read.
    func uploadExpectations(_ call: S3Call, defaultAlgorithm: ChecksumAlgorithm? = nil) throws -> UploadExpectations {
        let payload = call.signature.payload
        var decodedLength: Int64?
        if case .streaming = payload {
            guard let d = call.header("x-amz-decoded-content-length"), let v = Int64(d), v >= 0 else {
                throw S3Error(.missingContentLength, "You must provide the Content-Length HTTP header (x-amz-decoded-content-length for aws-chunked).")
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
            throw S3Error(.entityTooLarge, "Your proposed upload exceeds the maximum allowed size",
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
        let trailers = (call.header("x-amz-trailer") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
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
        return UploadExpectations(payload: payload, signing: signing, decodedLength: decodedLength, contentMD5: md5,
                                  checksum: checksum, checksumAlgorithm: algorithm ?? defaultAlgorithm, declaredTrailers: trailers)
    }

    /// Streams the request body, verified, into `name` on the placement's store.
    func receiveBody(_ call: S3Call, _ expect: UploadExpectations, into placement: ResolvedPlacement, name: String,
                     headers: ObjectHeaders, sealing keys: ObjectKeys?) async throws -> (StoredObject, UploadDigests) {
        call.context.sendContinueIfExpected()
        let box = UploadDigestsBox()
        let stored = try await storeObject(placement, name: name, length: try Self.length(expect),
                                           body: UploadBody(source: call.request.body, expect: expect, result: box),
                                           attributes: headers.attributes, sealing: keys)
        let digests = try Self.digests(box, stored: stored.md5)
        return (stored, digests)
    }

    static func length(_ expect: UploadExpectations) throws -> Int64 {
        guard let length = expect.decodedLength else {
            throw S3Error(.missingContentLength, "You must provide the Content-Length HTTP header.")
        }
        return length
    }

    /// The verified body's digests, checked against the MD5 the backend reports for what it stored.
    static func digests(_ box: UploadDigestsBox, stored md5: [UInt8]?) throws -> UploadDigests {
        guard let digests = box.digests else { throw S3Error(.incompleteBody, "The request body was not read to its end.") }
        if let md5, md5 != digests.md5 {
            throw StoreError.io("the backend stored bytes whose MD5 differs from what the client sent")
        }
        return digests
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
            h.user[name] = h.user[name].map { "\($0),\(field.value)" } ?? field.value
            size += name.utf8.count + field.value.utf8.count
        }
        // S3 caps user-defined metadata at 2 KB.
        guard size <= 2048 else { throw S3Error(.invalidArgument, "Your metadata headers exceed the maximum allowed metadata size.") }
        return h
    }

    func writePreconditions(_ call: S3Call) -> Preconditions {
        Preconditions(ifMatch: call.request.headers[.ifMatch], ifNoneMatch: call.request.headers[.ifNoneMatch])
    }

    /// Response headers describing a stored object (GET, HEAD).
    func objectResponseHeaders(_ r: ObjectRecord, checksumMode: Bool) -> HTTPFields {
        var h = HTTPFields()
        h[.eTag] = r.etag
        h[.lastModified] = HTTPDate.format(r.lastModified)
        h[.contentType] = r.headers.contentType ?? "binary/octet-stream"
        h[.acceptRanges] = "bytes"
        for (name, value) in r.headers.standard {
            if let n = HTTPField.Name(name) { h[n] = value }
        }
        for (name, value) in r.headers.user {
            if let n = HTTPField.Name("x-amz-meta-" + name) { h[n] = value }
        }
        if let parts = r.partsCount { h[.init("x-amz-mp-parts-count")!] = String(parts) }
        if checksumMode, let c = r.checksum, let n = HTTPField.Name(c.algorithm.headerName) {
            h[n] = c.base64
            if let t = r.checksumType { h[.init("x-amz-checksum-type")!] = t }
        }
        return h
    }
}

extension ObjectHeaders {
    /// What a backend keeps natively next to the object (the catalog stays the truth).
    var attributes: BlobAttributes {
        BlobAttributes(contentType: contentType, metadata: user)
    }
}
