import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol

/// Objects in one bucket of an S3-compatible service (SeaweedFS, OpenStack Swift's s3api, a
/// sovereign cloud). Bodies stream; small ones are buffered so they can be retried and carry an
/// integrity header the backend checks; large ones become multipart uploads with bounded parallelism.
public final class S3Store: ObjectStore {
    public let client: S3Client
    public let bucket: String
    public let capabilities: StoreCapabilities
    /// Bodies up to this size are buffered (retried, checked by the backend: see `integrity`).
    let bufferLimit: Int64
    /// Bodies above this size are split into parts by the store.
    let multipartThreshold: Int64

    public init(
        client: S3Client, bucket: String, capabilities: StoreCapabilities,
        bufferLimit: Int64 = 1 << 20, multipartThreshold: Int64 = singleRequestLimit
    ) {
        self.client = client
        self.bucket = bucket
        self.capabilities = capabilities
        self.bufferLimit = bufferLimit
        self.multipartThreshold = min(multipartThreshold, capabilities.maxSinglePut)
    }

    /// A 404 naming the bucket is a configuration problem, not a missing object.
    static let missingObject: Set<String> = ["NoSuchKey", "Not Found", "NotFound"]

    static func attributeHeaders(_ a: BlobAttributes) -> [(String, String)] {
        var h: [(String, String)] = []
        if let t = a.contentType { h.append(("content-type", t)) }
        for (k, v) in a.metadata.sorted(by: { $0.key < $1.key }) where v.allSatisfy({ $0.isASCII }) {
            h.append(("x-amz-meta-" + k, v))
        }
        return h
    }

    public func put<Body: AsyncSequence & Sendable>(name: String, length: Int64, body: Body, attributes: BlobAttributes) async throws -> StoredObject
    where Body.Element == ByteBuffer {
        if length <= bufferLimit {
            let bytes = try await collectBody(body, length: length)
            // With CRC-32C the MD5 stays unknown here: the backend checked the bytes it got, and
            // an ETag is not always an MD5 (SSE-KMS), so it is not taken for one.
            let (check, digest) = integrity(of: bytes, known: attributes.contentMD5)
            let etag = try await putBuffer(name: name, query: [], headers: Self.attributeHeaders(attributes) + [check], bytes: bytes)
            return StoredObject(name: name, size: length, etag: etag, md5: digest)
        }
        if length <= multipartThreshold {
            let checked = attributes.contentMD5.map { [contentMD5Header($0)] } ?? []
            let etag = try await putStream(name: name, query: [], headers: Self.attributeHeaders(attributes) + checked, length: length, body: body)
            return StoredObject(
                name: name, size: length, etag: etag,
                md5: attributes.contentMD5 ?? storedMD5(etag: etag))
        }
        let upload = try await startParts(name: name, attributes: attributes)
        do {
            let parts = try await PartedUpload.run(
                body: body, length: length, partSize: Int(capabilities.partSize),
                parallelism: capabilities.partParallelism
            ) { number, bytes in
                let etag = try await self.putBuffer(
                    name: name, query: Self.partQuery(number, upload), headers: [contentMD5Header(md5(bytes))], bytes: bytes)
                return PartToken(number: number, token: etag ?? "")
            }
            return try await finishParts(name: name, upload: upload, parts: parts, attributes: attributes)
        } catch {
            try? await abortParts(name: name, upload: upload, parts: [])
            throw error
        }
    }

    public func checksContentMD5(length: Int64) -> Bool { length <= multipartThreshold }

    static func partQuery(_ number: Int, _ upload: String) -> [(String, String)] {
        [("partNumber", String(number)), ("uploadId", upload)]
    }

    /// The header by which the backend checks a buffered body, and the body's MD5 when known:
    /// the MD5 the caller knows; else CRC-32C where the backend checks it (by the CPU's
    /// instruction, a few hundredths of MD5's cost); else an MD5 computed here.
    func integrity(of bytes: ByteBuffer, known: [UInt8]?) -> (header: (String, String), md5: [UInt8]?) {
        if let known { return (contentMD5Header(known), known) }
        if capabilities.checksCRC32C {
            var crc = ChecksumHasher(.crc32c)
            crc.update(bytes)
            return ((ChecksumAlgorithm.crc32c.headerName, ChecksumValue(algorithm: .crc32c, digest: crc.finalize()).base64), nil)
        }
        let digest = md5(bytes)
        return (contentMD5Header(digest), digest)
    }

    /// The MD5 of what the backend stored, from its ETag where that is one.
    func storedMD5(etag: String?) -> [UInt8]? {
        capabilities.etagIsMD5 ? etag.flatMap(ETag.md5(of:)) : nil
    }

    /// PUTs bytes held in memory with their integrity header (checked by the backend), retried;
    /// returns the ETag.
    func putBuffer(name: String, query: [(String, String)], headers: [(String, String)], bytes: ByteBuffer) async throws -> String? {
        let (response, _) = try await client.perform(notFoundCodes: []) {
            var req = client.request(
                .PUT, bucket: bucket, key: name, query: query,
                headers: [("content-length", String(bytes.readableBytes))] + headers)
            req.body = .bytes(bytes)
            return req
        }
        return response.headers.first(name: "etag")
    }

    /// PUTs a body as it streams in, its tail held back until the source ends cleanly (not
    /// retried: the bytes are gone); returns the ETag.
    func putStream<Body: AsyncSequence & Sendable>(
        name: String, query: [(String, String)], headers: [(String, String)], length: Int64,
        body: Body
    ) async throws -> String? where Body.Element == ByteBuffer {
        let req = client.request(.PUT, bucket: bucket, key: name, query: query, headers: [("content-length", String(length))] + headers)
        return try await client.transport.sendStreamed(req, body: body, length: length, expect: .ok).headers.first(name: "etag")
    }

    public func open(name: String, range: ByteRange?, ifMatch: String?) async throws -> BlobStream {
        try await client.transport.openResuming(name: name, range: range, ifMatch: ifMatch) { [self] from, through, ifMatch in
            try await fetch(name: name, from: from, through: through, ifMatch: ifMatch)
        }
    }

    /// One GET attempt of bytes `from…through` (to the end when nil).
    func fetch(name: String, from: Int64, through: Int64?, ifMatch: String?) async throws -> HTTPClientResponse {
        var headers: [(String, String)] = []
        if from > 0 || through != nil { headers.append(("range", "bytes=\(from)-\(through.map(String.init) ?? "")")) }
        if let ifMatch { headers.append(("if-match", ifMatch)) }
        let response = try await client.transport.send(client.request(.GET, bucket: bucket, key: name, headers: headers))
        return try await HTTPTransport.readable(response, name: name, notFoundCodes: Self.missingObject)
    }

    public func head(name: String) async throws -> StoredObject? {
        do {
            let (response, _) = try await client.perform(notFoundCodes: []) { client.request(.HEAD, bucket: bucket, key: name) }
            let size = response.headers.first(name: "content-length").flatMap { Int64($0) } ?? 0
            return StoredObject(name: name, size: size, etag: response.headers.first(name: "etag"))
        } catch StoreError.notFound {
            return nil
        } catch StoreError.rejected(404, _, _) {
            // HEAD has no body to tell a missing key from a missing bucket; ask the bucket.
            _ = try await client.perform { client.request(.HEAD, bucket: bucket) }
            return nil
        }
    }

    public func delete(names: [String]) async throws {
        if names.count == 1, let name = names.first {
            _ = try await client.perform(expect: [200, 204], notFoundCodes: Self.missingObject) { client.request(.DELETE, bucket: bucket, key: name) }
            return
        }
        for batch in stride(from: 0, to: names.count, by: 1000).map({ Array(names[$0..<min($0 + 1000, names.count)]) }) {
            var w = XMLWriter()
            w.open("Delete")
            w.element("Quiet", true)
            for n in batch { w.group("Object") { $0.element("Key", n) } }
            w.close("Delete")
            let body = Array(w.result.utf8)
            let integrity: (String, String)
            if capabilities.needsContentMD5OnDelete {
                integrity = contentMD5Header(md5(ByteBuffer(bytes: body)))
            } else {
                integrity = ("x-amz-checksum-crc32", Data(ChecksumHasher.digest(.crc32, of: body)).base64EncodedString())
            }
            let hash = Hex.encode(ChecksumHasher.digest(.sha256, of: body))
            let (_, result) = try await client.perform {
                var req = client.request(
                    .POST, bucket: bucket, query: [("delete", "")],
                    headers: [("content-length", String(body.count)), integrity], payloadHash: hash)
                req.body = .bytes(ByteBuffer(bytes: body))
                return req
            }
            if let xml = try? XMLTree.parse(result), let e = xml.all("Error").first(where: { $0.child("Code")?.text != "NoSuchKey" }) {
                throw StoreError.unavailable(
                    "DeleteObjects: \(e.child("Key")?.text ?? "") \(e.child("Code")?.text ?? "") \(e.child("Message")?.text ?? "")")
            }
        }
    }

    public func copy(from: String, to: String, length: Int64, attributes: BlobAttributes) async throws -> StoredObject {
        let source = "/\(bucket)/\(URIEncoding.encode(from, keepSlash: true))"
        let (_, body) = try await client.perform(notFoundCodes: []) {
            client.request(
                .PUT, bucket: bucket, key: to,
                headers: [("x-amz-copy-source", source), ("x-amz-metadata-directive", "REPLACE")] + Self.attributeHeaders(attributes))
        }
        // A copy can fail after its 200 status line (S3 CopyObject: "Error in a 200 response").
        let xml = try? XMLTree.parse(body)
        if let xml, xml.localName == "Error" {
            throw StoreError.unavailable("CopyObject: \(xml.child("Code")?.text ?? "") \(xml.child("Message")?.text ?? "")")
        }
        // CopyObjectResult names the copy's ETag; a service that leaves it out is asked.
        if let etag = xml?.child("ETag")?.text, !etag.isEmpty { return StoredObject(name: to, size: length, etag: etag) }
        guard let stored = try await head(name: to) else { throw StoreError.unavailable("CopyObject: \(to) missing after copy") }
        return stored
    }

    public func list(prefix: String, marker: String?, limit: Int) async throws -> StoreListing {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(min(limit, capabilities.maxListPage)))]
        if let marker { query.append(("continuation-token", marker)) }
        let (_, body) = try await client.perform { [query] in client.request(.GET, bucket: bucket, query: query) }
        guard let xml = try? XMLTree.parse(body) else { throw StoreError.unavailable("ListObjectsV2: malformed XML") }
        let objects: [StoredObject] = xml.all("Contents").compactMap { c in
            guard let key = c.child("Key")?.text else { return nil }
            return StoredObject(name: key, size: Int64(c.child("Size")?.text ?? "") ?? 0, etag: c.child("ETag")?.text)
        }
        let next = xml.child("IsTruncated")?.text == "true" ? xml.child("NextContinuationToken")?.text : nil
        return StoreListing(objects: objects, nextMarker: next)
    }

    public func startParts(name: String, attributes: BlobAttributes) async throws -> String {
        let (_, body) = try await client.perform(notFoundCodes: []) {
            client.request(.POST, bucket: bucket, key: name, query: [("uploads", "")], headers: Self.attributeHeaders(attributes))
        }
        guard let id = (try? XMLTree.parse(body))?.child("UploadId")?.text, !id.isEmpty else {
            throw StoreError.unavailable("CreateMultipartUpload: no UploadId in the response")
        }
        return id
    }

    public func putPart<Body: AsyncSequence & Sendable>(
        name: String, upload: String, number: Int, length: Int64, body: Body
    ) async throws -> PartToken
    where Body.Element == ByteBuffer {
        guard number <= capabilities.maxPartNumber else {
            throw StoreError.rejected(
                status: 400, code: "InvalidArgument", message: "this backend accepts part numbers up to \(capabilities.maxPartNumber)")
        }
        guard let etag = try await putStream(name: name, query: Self.partQuery(number, upload), headers: [], length: length, body: body) else {
            throw StoreError.rejected(status: 200, code: "MissingETag", message: "UploadPart \(number) of \(name): no ETag in the response")
        }
        return PartToken(number: number, token: etag, md5: storedMD5(etag: etag))
    }

    public func finishParts(name: String, upload: String, parts: [PartToken], attributes: BlobAttributes) async throws -> StoredObject {
        var w = XMLWriter()
        w.open("CompleteMultipartUpload")
        for p in parts {
            w.group("Part") { w in
                w.element("PartNumber", p.number)
                w.element("ETag", p.token)
            }
        }
        w.close("CompleteMultipartUpload")
        let body = Array(w.result.utf8)
        let hash = Hex.encode(ChecksumHasher.digest(.sha256, of: body))
        let (_, result) = try await client.perform(notFoundCodes: []) {
            var req = client.request(
                .POST, bucket: bucket, key: name, query: [("uploadId", upload)],
                headers: [("content-length", String(body.count))], payloadHash: hash)
            req.body = .bytes(ByteBuffer(bytes: body))
            return req
        }
        // CompleteMultipartUpload may fail after its 200 status line.
        guard let xml = try? XMLTree.parse(result), xml.localName != "Error" else {
            throw StoreError.unavailable("CompleteMultipartUpload failed: \(String(decoding: result.prefix(300), as: UTF8.self))")
        }
        guard let stored = try await head(name: name) else { throw StoreError.unavailable("\(name) missing after CompleteMultipartUpload") }
        return stored
    }

    public func abortParts(name: String, upload: String, parts: [PartToken]) async throws {
        _ = try await client.perform(expect: [200, 204], notFoundCodes: ["NoSuchUpload"]) {
            client.request(.DELETE, bucket: bucket, key: name, query: [("uploadId", upload)])
        }
    }

    public func discardPart(_ part: PartToken) async throws {
        // A re-uploaded part number replaces the backend's part: nothing to remove.
    }
}
