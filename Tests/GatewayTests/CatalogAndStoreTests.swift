import Catalog
import Foundation
import NIOCore
import S3Protocol
import Storage
import Testing

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "passerelle-unit-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func record(_ key: String, blob: String, etag: String = "\"e\"") -> ObjectRecord {
    ObjectRecord(bucket: "b", key: key, size: 1, etag: etag, lastModified: Date(), headers: ObjectHeaders(contentType: "text/plain", user: ["k": "v"]),
                 checksum: ChecksumValue(algorithm: .crc32, base64: "DUoRhQ=="), checksumType: "FULL_OBJECT", blob: blob, partsCount: nil)
}

@Suite("SQLite catalog")
struct CatalogTests {
    @Test("objects round-trip, survive reopening, and keys sort by bytes")
    func roundTrip() async throws {
        let dir = try temporaryDirectory()
        do {
            let c = try SQLiteCatalog(path: dir + "/c.sqlite")
            try await c.createBucket(BucketRecord(name: "b", region: "us-east-1", created: Date()))
            for k in ["é", "Z", "a/b", "a"] { _ = try await c.putObject(record(k, blob: "blob" + String(k.unicodeScalars.first!.value))) { _ in } }
        }
        let c = try SQLiteCatalog(path: dir + "/c.sqlite")
        let all = try await c.objects(bucket: "b", from: [], until: nil, limit: 10)
        #expect(all.map(\.key) == ["Z", "a", "a/b", "é"])
        let got = try #require(try await c.object(bucket: "b", key: "é"))
        #expect(got.headers.user == ["k": "v"] && got.checksum?.base64 == "DUoRhQ==")
    }

    @Test("intents survive reopening and are settled by the commit of their key")
    func intents() async throws {
        let dir = try temporaryDirectory()
        do {
            let c = try SQLiteCatalog(path: dir + "/c.sqlite")
            try await c.createBucket(BucketRecord(name: "b", region: "us-east-1", created: Date()))
            for k in ["put", "del", "left"] { try await c.beginIntent(bucket: "b", key: k, now: Date()) }
        }
        let c = try SQLiteCatalog(path: dir + "/c.sqlite")
        #expect(try await c.intents().map(\.key) == ["del", "left", "put"])
        _ = try await c.putObject(record("put", blob: "x")) { _ in }
        _ = try await c.deleteObject(bucket: "b", key: "del")
        #expect(try await c.intents().map(\.key) == ["left"])
        try await c.endIntent(bucket: "b", key: "left")
        #expect(try await c.intents().isEmpty)
    }

    @Test("a failing precondition leaves the catalog unchanged; replace returns the old blob")
    func conditional() async throws {
        let c = try SQLiteCatalog(path: try temporaryDirectory() + "/c.sqlite")
        try await c.createBucket(BucketRecord(name: "b", region: "us-east-1", created: Date()))
        #expect(try await c.putObject(record("k", blob: "blob-1")) { _ in } == nil)
        await #expect(throws: S3Error.self) {
            _ = try await c.putObject(record("k", blob: "blob-2")) { current in try Preconditions(ifNoneMatch: "*").evaluateWrite(currentETag: current?.etag) }
        }
        #expect(try await c.object(bucket: "b", key: "k")?.blob == "blob-1")
        #expect(try await c.putObject(record("k", blob: "blob-3")) { _ in } == "blob-1")
        await #expect(throws: CatalogError.bucketNotEmpty) { _ = try await c.deleteBucket("b") }
        await #expect(throws: CatalogError.noSuchBucket) { _ = try await c.putObject(ObjectRecord(bucket: "nope", key: "k", size: 0, etag: "", lastModified: Date(), headers: .init(), checksum: nil, checksumType: nil, blob: "x", partsCount: nil)) { _ in } }
    }

    @Test("multipart rows: parts replace, complete returns every part blob, unknown uploads are refused")
    func multipart() async throws {
        let c = try SQLiteCatalog(path: try temporaryDirectory() + "/c.sqlite")
        try await c.createBucket(BucketRecord(name: "b", region: "us-east-1", created: Date()))
        try await c.createUpload(UploadRecord(uploadID: "u1", bucket: "b", key: "k", initiated: Date(), headers: .init(), checksumAlgorithm: .crc32, checksumType: "COMPOSITE"))
        #expect(try await c.putPart(PartRecord(uploadID: "u1", partNumber: 1, size: 5, etag: "\"a\"", lastModified: Date(), checksum: nil, blob: "p1")) == nil)
        #expect(try await c.putPart(PartRecord(uploadID: "u1", partNumber: 1, size: 5, etag: "\"b\"", lastModified: Date(), checksum: nil, blob: "p1b"))?.blob == "p1")
        _ = try await c.putPart(PartRecord(uploadID: "u1", partNumber: 2, size: 5, etag: "\"c\"", lastModified: Date(), checksum: nil, blob: "p2"))
        let done = try await c.completeUpload("u1", record: record("k", blob: "final"), mirror: .current) { _ in }
        #expect(Set(done.parts.map(\.blob)) == ["p1b", "p2"])
        #expect(done.result.replaced == nil)
        #expect(try await c.upload("u1") == nil)
        await #expect(throws: CatalogError.noSuchUpload) { _ = try await c.abortUpload("u1") }
        await #expect(throws: CatalogError.noSuchUpload) {
            _ = try await c.putPart(PartRecord(uploadID: "u1", partNumber: 1, size: 1, etag: "", lastModified: Date(), checksum: nil, blob: "x"))
        }
        #expect(try await c.referencedBlobs() == ["final"])
    }
}

struct FailingBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct Broken: Error {}
    struct AsyncIterator: AsyncIteratorProtocol {
        var sent = false
        mutating func next() async throws -> ByteBuffer? {
            if sent { throw Broken() }
            sent = true
            return ByteBuffer(bytes: [UInt8](repeating: 7, count: 3_000_000))
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
}

@Suite("Filesystem store")
struct FileSystemStoreTests {
    @Test("put, ranged read, parts concatenated, delete")
    func roundTrip() async throws {
        let store = try FileSystemStore(root: try temporaryDirectory())
        let data = (0..<3_000_000).map { UInt8($0 % 251) }
        let body = stride(from: 0, to: data.count, by: 65_536).map { ByteBuffer(bytes: data[$0..<min($0 + 65_536, data.count)]) }
        #expect(try await store.put(name: "0123456789abcdef", length: Int64(data.count), body: body.async, attributes: .none).size == Int64(data.count))
        var got = [UInt8]()
        for try await b in try await store.open(name: "0123456789abcdef", range: ByteRange(start: 1_000_000, end: 2_500_000), ifMatch: nil) {
            got += Array(buffer: b)
        }
        #expect(got == Array(data[1_000_000...2_500_000]))
        let upload = try await store.startParts(name: "fedcba9876543210", attributes: .none)
        let p1 = try await store.putPart(name: "fedcba9876543210", upload: upload, number: 1, length: Int64(data.count), body: body.async)
        let p2 = try await store.putPart(name: "fedcba9876543210", upload: upload, number: 2, length: 10, body: [ByteBuffer(bytes: data[0..<10])].async)
        let done = try await store.finishParts(name: "fedcba9876543210", upload: upload, parts: [p1, p2], attributes: .none)
        #expect(done.size == Int64(data.count + 10))
        try await store.discardPart(p1)
        try await store.discardPart(p2)
        try await store.delete(name: "0123456789abcdef")
        #expect(try await store.head(name: "0123456789abcdef") == nil)
        #expect(try await store.allBlobs() == ["fedcba9876543210"])
    }

    @Test("a body that fails midway leaves no blob and no temporary file")
    func failedPut() async throws {
        let root = try temporaryDirectory()
        let store = try FileSystemStore(root: root)
        await #expect(throws: FailingBody.Broken.self) { _ = try await store.put(name: "aaaaaaaaaaaaaaaa", length: 6_000_000, body: FailingBody(), attributes: .none) }
        #expect(try await store.head(name: "aaaaaaaaaaaaaaaa") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
    }

    @Test("blob ids that could name a path are refused", arguments: ["../../etc/passwd", "short", "ABCDEF0123456789", "0123456789abcdef/x"])
    func hostileIDs(_ id: String) async throws {
        let store = try FileSystemStore(root: try temporaryDirectory())
        await #expect(throws: StoreError.self) { _ = try await store.head(name: id) }
    }
}

extension Array where Element == ByteBuffer {
    var async: AsyncStream<ByteBuffer> {
        AsyncStream { c in
            for b in self { c.yield(b) }
            c.finish()
        }
    }
}
