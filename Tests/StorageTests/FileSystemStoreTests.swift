import Foundation
import NIOCore
import S3Protocol
import Storage
import TestSupport
import Testing

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
        let store = try FileSystemStore(root: try TemporaryDirectory.make())
        let data = (0..<3_000_000).map { UInt8($0 % 251) }
        let body = stride(from: 0, to: data.count, by: 65_536).map { ByteBuffer(bytes: data[$0..<min($0 + 65_536, data.count)]) }
        #expect(
            try await store.put(name: "0123456789abcdef", length: Int64(data.count), body: body.async, attributes: .none).size == Int64(data.count))
        var got = [UInt8]()
        for try await b in try await store.open(name: "0123456789abcdef", range: ByteRange(start: 1_000_000, end: 2_500_000), ifMatch: nil) {
            got += Array(buffer: b)
        }
        #expect(got == Array(data[1_000_000...2_500_000]))
        let upload = try await store.startParts(name: "fedcba9876543210", attributes: .none)
        let p1 = try await store.putPart(name: "fedcba9876543210", upload: upload, number: 1, length: Int64(data.count), body: body.async)
        let p2 = try await store.putPart(
            name: "fedcba9876543210", upload: upload, number: 2, length: 10, body: [ByteBuffer(bytes: data[0..<10])].async)
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
        let root = try TemporaryDirectory.make()
        let store = try FileSystemStore(root: root)
        await #expect(throws: FailingBody.Broken.self) {
            _ = try await store.put(name: "aaaaaaaaaaaaaaaa", length: 6_000_000, body: FailingBody(), attributes: .none)
        }
        #expect(try await store.head(name: "aaaaaaaaaaaaaaaa") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
    }

    @Test("blob ids that could name a path are refused", arguments: ["../../etc/passwd", "short", "ABCDEF0123456789", "0123456789abcdef/x"])
    func hostileIDs(_ id: String) async throws {
        let store = try FileSystemStore(root: try TemporaryDirectory.make())
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
