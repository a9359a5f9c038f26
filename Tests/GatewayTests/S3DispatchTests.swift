import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import S3Protocol
import Testing

/// The S3 dispatch in-process: what the middlewares and the thin handlers answer, without
/// sockets (the Python client matrix covers the same ground with real clients).
@Suite("S3 dispatch in-process")
struct S3DispatchTests {
    @Test("put, get, head and a range of an object; its ETag, length and metadata")
    func objects() async throws {
        try await FrontDoor().run { c in
            #expect(try await c.send(.put, "/data").status == .ok)
            let put = try await c.send(
                .put, "/data/a.csv", headers: [("x-amz-meta-origin", "test"), ("content-type", "text/csv")],
                body: Array("id,age\n1,40\n".utf8))
            #expect(put.status == .ok && put.headers[.eTag]?.count == 34)
            let get = try await c.send(.get, "/data/a.csv")
            #expect(get.status == .ok && get.text == "id,age\n1,40\n")
            #expect(get.headers[.eTag] == put.headers[.eTag] && get.headers[.contentType] == "text/csv")
            #expect(get.headers[HTTPField.Name("x-amz-meta-origin")!] == "test" && get.headers[HTTPField.Name("x-amz-request-id")!] != nil)
            let head = try await c.send(.head, "/data/a.csv")
            #expect(head.status == .ok && head.headers[.contentLength] == "12" && head.body.readableBytes == 0)
            let range = try await c.send(.get, "/data/a.csv", headers: [("range", "bytes=3-5")])
            #expect(
                range.status == .partialContent && range.text == "age" && range.headers[.contentRange] == "bytes 3-5/12",
                "\(range.status) \(range.text) \(range.headers)")
        }
    }

    @Test("errors are S3 error documents with the request id: missing bucket and key, failed conditions, bad signatures")
    func errors() async throws {
        try await FrontDoor().run { c in
            #expect(try await c.send(.put, "/data").status == .ok)
            let noBucket = try await c.send(.get, "/nope/k")
            #expect(noBucket.status == .notFound && noBucket.code == "NoSuchBucket")
            let noKey = try await c.send(.get, "/data/missing")
            #expect(noKey.status == .notFound && noKey.code == "NoSuchKey" && noKey.text.contains("<Key>missing</Key>"))
            #expect(noKey.text.contains("<RequestId>\(noKey.headers[HTTPField.Name("x-amz-request-id")!] ?? "")</RequestId>"))
            #expect(try await c.send(.put, "/data/k", body: Array("1".utf8)).status == .ok)
            let conditional = try await c.send(.put, "/data/k", headers: [("if-none-match", "*")], body: Array("2".utf8))
            #expect(conditional.status == .preconditionFailed && conditional.code == "PreconditionFailed")
            #expect(try await c.send(.get, "/data/k").text == "1")
            let unsigned = try await c.send(.get, "/data/k", signed: false)
            #expect(unsigned.status == .forbidden && unsigned.code == "AccessDenied")
            let notFoundHead = try await c.send(.head, "/data/missing")
            #expect(notFoundHead.status == .notFound && notFoundHead.body.readableBytes == 0)
        }
    }

    @Test("DeleteObjects answers per key, in order; a list shows what is left")
    func deleteObjectsAndList() async throws {
        try await FrontDoor().run { c in
            #expect(try await c.send(.put, "/data").status == .ok)
            for k in ["a", "b", "c"] { #expect(try await c.send(.put, "/data/\(k)", body: Array(k.utf8)).status == .ok) }
            let xml = Array("<Delete><Object><Key>a</Key></Object><Object><Key>zz</Key></Object></Delete>".utf8)
            let crc = ChecksumValue(algorithm: .crc32, digest: ChecksumHasher.digest(.crc32, of: xml)).base64
            let r = try await c.send(.post, "/data", query: [("delete", "")], headers: [("x-amz-checksum-crc32", crc)], body: xml)
            #expect(r.status == .ok && r.text.contains("<Deleted><Key>a</Key></Deleted><Deleted><Key>zz</Key></Deleted>"))
            let list = try await c.send(.get, "/data", query: [("list-type", "2")])
            #expect(list.status == .ok && list.text.contains("<Key>b</Key>") && !list.text.contains("<Key>a</Key>"))
            #expect(list.text.contains("<KeyCount>2</KeyCount>"))
        }
    }

    @Test("the gateway's own endpoints: health for anyone, metrics only with a bearer token on the S3 listener")
    func ownEndpoints() async throws {
        try await FrontDoor().run { c in
            let health = try await c.send(.get, "/health", signed: false)
            #expect(health.status == .ok && health.text == "ok\n")
            #expect(try await c.send(.get, "/metrics", signed: false).status == .unauthorized)
        }
    }
}
