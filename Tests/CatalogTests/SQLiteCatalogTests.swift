import Catalog
import Foundation
import S3Protocol
import TestSupport
import Testing

func temporaryDirectory() throws -> String {
    try TemporaryDirectory.make()
}

func record(_ key: String, blob: String, etag: String = "\"e\"") -> ObjectRecord {
    ObjectRecord(
        bucket: "b", key: key, size: 1, etag: etag, lastModified: Date(), headers: ObjectHeaders(contentType: "text/plain", user: ["k": "v"]),
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
            _ = try await c.putObject(record("k", blob: "blob-2")) { current in
                try Preconditions(ifNoneMatch: "*").evaluateWrite(currentETag: current?.etag)
            }
        }
        #expect(try await c.object(bucket: "b", key: "k")?.blob == "blob-1")
        #expect(try await c.putObject(record("k", blob: "blob-3")) { _ in } == "blob-1")
        await #expect(throws: CatalogError.bucketNotEmpty) { _ = try await c.deleteBucket("b") }
        await #expect(throws: CatalogError.noSuchBucket) {
            _ = try await c.putObject(
                ObjectRecord(
                    bucket: "nope", key: "k", size: 0, etag: "", lastModified: Date(), headers: .init(), checksum: nil, checksumType: nil, blob: "x",
                    partsCount: nil)
            ) { _ in }
        }
    }

    @Test("multipart rows: parts replace, complete returns every part blob, unknown uploads are refused")
    func multipart() async throws {
        let c = try SQLiteCatalog(path: try temporaryDirectory() + "/c.sqlite")
        try await c.createBucket(BucketRecord(name: "b", region: "us-east-1", created: Date()))
        try await c.createUpload(
            UploadRecord(
                uploadID: "u1", bucket: "b", key: "k", initiated: Date(), headers: .init(), checksumAlgorithm: .crc32, checksumType: "COMPOSITE"))
        #expect(
            try await c.putPart(PartRecord(uploadID: "u1", partNumber: 1, size: 5, etag: "\"a\"", lastModified: Date(), checksum: nil, blob: "p1"))
                == nil)
        #expect(
            try await c.putPart(PartRecord(uploadID: "u1", partNumber: 1, size: 5, etag: "\"b\"", lastModified: Date(), checksum: nil, blob: "p1b"))?
                .blob == "p1")
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
