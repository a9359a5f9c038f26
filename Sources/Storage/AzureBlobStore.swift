import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol

/// Block blobs in one container of an Azure storage account. Small bodies are buffered (sent
/// with Content-MD5, retried); larger ones stream in one Put Blob; above the threshold the
/// store uploads blocks itself (bounded parallelism) and commits them with Put Block List.
/// A client's multipart upload maps onto blocks: block ids are fixed-length, made of the
/// upload id and the part number, so a re-uploaded part replaces its block.
public final class AzureBlobStore: ObjectStore {
    public let client: AzureClient
    public let container: String
    public let capabilities: StoreCapabilities
    let bufferLimit: Int64
    let blockThreshold: Int64

    public init(
        client: AzureClient, container: String, capabilities: StoreCapabilities = .azure,
        bufferLimit: Int64 = 1 << 20, blockThreshold: Int64 = singleRequestLimit
    ) {
        self.client = client
        self.container = container
        self.capabilities = capabilities
        self.bufferLimit = bufferLimit
        self.blockThreshold = min(blockThreshold, capabilities.maxSinglePut)
    }

    /// Azure metadata names must be C# identifiers; other S3 metadata stays in the catalog only.
    static func attributeHeaders(_ a: BlobAttributes) -> [(String, String)] {
        var h: [(String, String)] = []
        if let t = a.contentType { h.append(("x-ms-blob-content-type", t)) }
        for (k, v) in a.metadata.sorted(by: { $0.key < $1.key }) where isIdentifier(k) && v.allSatisfy({ $0.isASCII && $0 != "\r" && $0 != "\n" }) {
            h.append(("x-ms-meta-" + k, v))
        }
        return h
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
    }

    /// A block id: base64 of "UPLOAD-NNNNNN"; every id of a blob has the same length, as Azure requires.
    static func blockID(upload: String, number: Int) -> String {
        let digits = String(number)
        return Data((upload + "-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits).utf8).base64EncodedString()
    }

    static let blockBlob = ("x-ms-blob-type", "BlockBlob")

    public func put<Body: AsyncSequence & Sendable>(name: String, length: Int64, body: Body, attributes: BlobAttributes) async throws -> StoredObject
    where Body.Element == ByteBuffer {
        let headers = [Self.blockBlob] + Self.attributeHeaders(attributes)
        if length <= bufferLimit {
            let bytes = try await collectBody(body, length: length)
            let digest = attributes.contentMD5 ?? md5(bytes)
            let response = try await putBuffer(name: name, query: [], headers: headers, bytes: bytes, md5: digest)
            return StoredObject(name: name, size: length, etag: response.headers.first(name: "etag"), md5: digest)
        }
        if length <= blockThreshold {
            let checked = attributes.contentMD5.map { [contentMD5Header($0)] } ?? []
            let response = try await putStream(name: name, query: [], headers: headers + checked, length: length, body: body)
            return StoredObject(
                name: name, size: length, etag: response.headers.first(name: "etag"),
                md5: attributes.contentMD5 ?? Self.contentMD5(response.headers))
        }
        let upload = Self.newUploadID()
        let parts = try await PartedUpload.run(
            body: body, length: length, partSize: Int(capabilities.partSize),
            parallelism: capabilities.partParallelism
        ) { number, bytes in
            let id = Self.blockID(upload: upload, number: number)
            _ = try await self.putBuffer(name: name, query: Self.blockQuery(id), headers: [], bytes: bytes, md5: md5(bytes))
            return PartToken(number: number, token: id)
        }
        return try await finishParts(name: name, upload: upload, parts: parts, attributes: attributes)
    }

    public func checksContentMD5(length: Int64) -> Bool { length <= blockThreshold }

    public static func newUploadID() -> String {
        (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    static func blockQuery(_ id: String) -> [(String, String)] {
        [("comp", "block"), ("blockid", id)]
    }

    static func contentMD5(_ headers: HTTPHeaders) -> [UInt8]? {
        headers.first(name: "content-md5").flatMap { Data(base64Encoded: $0) }.map { Array($0) }
    }

    /// PUTs bytes held in memory with Content-MD5 (checked by the service), retried.
    func putBuffer(
        name: String, query: [(String, String)], headers: [(String, String)], bytes: ByteBuffer, md5: [UInt8]
    ) async throws -> HTTPClientResponse {
        let (response, _) = try await client.perform(expect: [201], notFoundCodes: []) {
            var req = client.request(
                .PUT, container: container, blob: name, query: query,
                headers: [("content-length", String(bytes.readableBytes)), contentMD5Header(md5)] + headers)
            req.body = .bytes(bytes)
            return req
        }
        return response
    }

    /// PUTs a body as it streams in, its tail held back until the source ends cleanly.
    func putStream<Body: AsyncSequence & Sendable>(
        name: String, query: [(String, String)], headers: [(String, String)], length: Int64,
        body: Body
    ) async throws -> HTTPClientResponse where Body.Element == ByteBuffer {
        let req = client.request(.PUT, container: container, blob: name, query: query, headers: [("content-length", String(length))] + headers)
        return try await client.transport.sendStreamed(req, body: body, length: length, expect: .created)
    }

    public func open(name: String, range: ByteRange?, ifMatch: String?) async throws -> BlobStream {
        try await client.transport.openResuming(name: name, range: range, ifMatch: ifMatch) { [self] from, through, ifMatch in
            try await fetch(name: name, from: from, through: through, ifMatch: ifMatch)
        }
    }

    /// One Get Blob attempt of bytes `from…through` (to the end when nil).
    func fetch(name: String, from: Int64, through: Int64?, ifMatch: String?) async throws -> HTTPClientResponse {
        var headers: [(String, String)] = []
        if from > 0 || through != nil { headers.append(("x-ms-range", "bytes=\(from)-\(through.map(String.init) ?? "")")) }
        if let ifMatch { headers.append(("if-match", ifMatch)) }
        let response = try await client.transport.send(client.request(.GET, container: container, blob: name, headers: headers))
        return try await HTTPTransport.readable(response, name: name, notFoundCodes: ["BlobNotFound"])
    }

    public func head(name: String) async throws -> StoredObject? {
        do {
            // A HEAD carries no body; Azure names the missing thing in x-ms-error-code.
            let (response, _) = try await client.perform(expect: [200]) { client.request(.HEAD, container: container, blob: name) }
            return Self.stored(name, response.headers)
        } catch StoreError.notFound {
            return nil
        }
    }

    static func stored(_ name: String, _ headers: HTTPHeaders) -> StoredObject {
        StoredObject(
            name: name, size: headers.first(name: "content-length").flatMap { Int64($0) } ?? 0,
            etag: headers.first(name: "etag"), md5: contentMD5(headers))
    }

    public func delete(names: [String]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for name in names {
                if inFlight == 8 {
                    try await group.next()
                    inFlight -= 1
                }
                group.addTask {
                    do {
                        _ = try await self.client.perform(expect: [202]) { self.client.request(.DELETE, container: self.container, blob: name) }
                    } catch StoreError.notFound {}
                }
                inFlight += 1
            }
            try await group.waitForAll()
        }
    }

    public func copy(from: String, to: String, length: Int64, attributes: BlobAttributes) async throws -> StoredObject {
        let source = client.url(container: container, blob: from)
        let metadata = Self.attributeHeaders(BlobAttributes(metadata: attributes.metadata))
        let (response, _) = try await client.perform(expect: [202], notFoundCodes: []) {
            client.request(.PUT, container: container, blob: to, headers: [("x-ms-copy-source", source)] + metadata)
        }
        var status = response.headers.first(name: "x-ms-copy-status") ?? "success"
        var stored = StoredObject(name: to, size: 0, etag: nil)
        var headers = response.headers
        var polls = 0
        // A copy within one account normally completes before the response; poll if not.
        repeat {
            if status == "pending" {
                polls += 1
                guard polls <= 600 else { throw StoreError.unavailable("Copy Blob \(from) → \(to) still pending") }
                try await Task.sleep(for: .milliseconds(min(1000, 50 * polls)))
            }
            let (props, _) = try await client.perform(expect: [200], notFoundCodes: []) { client.request(.HEAD, container: container, blob: to) }
            headers = props.headers
            status = headers.first(name: "x-ms-copy-status") ?? "success"
            stored = Self.stored(to, headers)
        } while status == "pending"
        guard status == "success" else {
            throw StoreError.unavailable("Copy Blob \(from) → \(to): \(status) \(headers.first(name: "x-ms-copy-status-description") ?? "")")
        }
        // Copy Blob keeps the source's content type; Set Blob Properties replaces every
        // x-ms-blob-* property, so the MD5 is sent back with the new type.
        if let type = attributes.contentType, headers.first(name: "content-type") != type {
            var props = [("x-ms-blob-content-type", type)]
            if let md5 = headers.first(name: "content-md5") { props.append(("x-ms-blob-content-md5", md5)) }
            let (set, _) = try await client.perform(expect: [200], notFoundCodes: []) { [props] in
                client.request(.PUT, container: container, blob: to, query: [("comp", "properties")], headers: props)
            }
            stored.etag = set.headers.first(name: "etag") ?? stored.etag
        }
        return stored
    }

    public func list(prefix: String, marker: String?, limit: Int) async throws -> StoreListing {
        var query = [("restype", "container"), ("comp", "list"), ("prefix", prefix), ("maxresults", String(min(limit, capabilities.maxListPage)))]
        if let marker { query.append(("marker", marker)) }
        let (_, body) = try await client.perform(expect: [200], notFoundCodes: []) { [query] in
            client.request(.GET, container: container, query: query)
        }
        guard let xml = try? XMLTree.parse(body) else { throw StoreError.unavailable("List Blobs: malformed XML") }
        let objects: [StoredObject] = (xml.child("Blobs")?.all("Blob") ?? []).compactMap { b -> StoredObject? in
            guard let name = b.child("Name")?.text else { return nil }
            let p = b.child("Properties")
            let etag = p?.child("Etag")?.text
            let md5 = (p?.child("Content-MD5")?.text).flatMap { Data(base64Encoded: $0) }
            return StoredObject(
                name: name, size: Int64(p?.child("Content-Length")?.text ?? "") ?? 0,
                etag: etag.map { $0.hasPrefix("\"") ? $0 : "\"\($0)\"" }, md5: md5.map { Array($0) })
        }
        let next = xml.child("NextMarker")?.text ?? ""
        return StoreListing(objects: objects, nextMarker: next.isEmpty ? nil : next)
    }

    // Multipart: the upload id only names the blocks; Azure keeps uncommitted blocks with the
    // blob (and drops them a week later, or when any block list is committed).

    public func startParts(name: String, attributes: BlobAttributes) async throws -> String {
        Self.newUploadID()
    }

    public func putPart<Body: AsyncSequence & Sendable>(
        name: String, upload: String, number: Int, length: Int64, body: Body
    ) async throws -> PartToken
    where Body.Element == ByteBuffer {
        guard number <= capabilities.maxPartNumber else {
            throw StoreError.rejected(
                status: 400, code: "InvalidArgument", message: "this backend accepts part numbers up to \(capabilities.maxPartNumber)")
        }
        let id = Self.blockID(upload: upload, number: number)
        let response = try await putStream(name: name, query: Self.blockQuery(id), headers: [], length: length, body: body)
        return PartToken(number: number, token: id, md5: Self.contentMD5(response.headers))
    }

    public func finishParts(name: String, upload: String, parts: [PartToken], attributes: BlobAttributes) async throws -> StoredObject {
        var w = XMLWriter()
        w.open("BlockList", namespace: false)
        for p in parts { w.element("Latest", p.token) }
        w.close("BlockList")
        let body = ByteBuffer(string: w.result)
        let digest = md5(body)
        let response = try await putBuffer(
            name: name, query: [("comp", "blocklist")], headers: Self.attributeHeaders(attributes), bytes: body, md5: digest)
        guard let stored = try await head(name: name) else { throw StoreError.unavailable("\(name) missing after Put Block List") }
        return StoredObject(name: name, size: stored.size, etag: response.headers.first(name: "etag") ?? stored.etag)
    }

    public func abortParts(name: String, upload: String, parts: [PartToken]) async throws {
        // Azure has no call to drop uncommitted blocks; it discards them after a week.
    }

    public func discardPart(_ part: PartToken) async throws {
        // A re-uploaded part reuses its block id and replaces the block.
    }
}
