import Foundation
import NIOCore
import TestSupport
import Testing

@testable import S3Protocol

/// Bounded random-input harness for the parsers that face the network. Each target gets
/// mutated valid inputs and raw noise; the only acceptable outcomes are a value or a typed
/// error. `FUZZ_ITERATIONS` sets the count (CI runs the default; 1,000,000 was run by hand).
@Suite("Fuzz")
struct FuzzTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["FUZZ_ITERATIONS"] ?? "") ?? 20_000

    typealias Mutator = ByteMutator

    static let authSeed = Array(
        ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, "
            + "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024").utf8)
    static let chunkSeed = Array(
        ("3;chunk-signature=\(String(repeating: "a", count: 64))\r\nabc\r\n0;chunk-signature=\(String(repeating: "b", count: 64))\r\n"
            + "x-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:\(String(repeating: "c", count: 64))\r\n\r\n").utf8)
    static let completeSeed = Array(
        ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag><ChecksumCRC32>DUoRhQ==</ChecksumCRC32></Part>"
            + "</CompleteMultipartUpload>").utf8)
    static let deleteSeed = Array("<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object></Delete>".utf8)
    static let lockSeed = Array(ObjectLockConfiguration(defaultRetention: .init(mode: .compliance, days: 30)).xml.utf8)
    static let retentionSeed = Array(ObjectLock.retentionXML(Retention(mode: .governance, until: Date(timeIntervalSince1970: 2e9))).utf8)
    static let versioningSeed = Array(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>"
            .utf8)
    static let taggingSeed = Array(Tagging.xml([ObjectTag("k", "v"), ObjectTag("é", "")]).utf8)
    static let aclSeed = Array(ACL.policy(owner: "passerelle").utf8)

    @Test("SigV4 Authorization header parser and presigned-query verifier")
    func sigv4() {
        var m = Mutator(state: 1)
        for _ in 0..<Self.iterations {
            let text = String(decoding: m.mutate(Self.authSeed), as: UTF8.self)
            _ = try? SigV4Authorization.parse(header: text)
            let query = URIEncoding.parseQuery(text.replacingOccurrences(of: ", ", with: "&")) ?? []
            let r = SignableRequest(method: "GET", path: "/b/k", query: query + [("X-Amz-Algorithm", "AWS4-HMAC-SHA256")], headers: [("host", "h")])
            _ = try? SigV4Verifier(region: "us-east-1").verify(r, now: Date()) { _ in "secret" }
        }
    }

    @Test("aws-chunked decoder and verifier, with random splits")
    func chunked() {
        var m = Mutator(state: 2)
        for _ in 0..<Self.iterations {
            let bytes = m.mutate(Self.chunkSeed)
            var d = AWSChunkedDecoder()
            var v = ChunkedBodyVerifier(signing: nil, expectTrailer: true, declaredTrailers: ["x-amz-checksum-crc32"])
            var i = 0
            do {
                while i < bytes.count {
                    let n = Int.random(in: 1...max(1, bytes.count - i), using: &m)
                    for e in try d.feed(ByteBuffer(bytes: bytes[i..<(i + n)])) { _ = try v.consume(e) }
                    i += n
                }
                try d.finish()
            } catch {}
        }
    }

    @Test("XML request bodies")
    func xml() {
        var m = Mutator(state: 3)
        for n in 0..<Self.iterations {
            switch n % 10 {
            case 0: _ = try? XMLRequests.completeMultipartUpload(m.mutate(Self.completeSeed))
            case 1: _ = try? XMLRequests.delete(m.mutate(Self.deleteSeed))
            case 2: _ = try? Tagging.parseXML(m.mutate(Self.taggingSeed), limit: Tagging.maxObjectTags)
            case 3: try? ACL.checkPolicy(m.mutate(Self.aclSeed), owner: "passerelle")
            case 4: _ = try? VersioningState.parse(m.mutate(Self.versioningSeed))
            case 5: _ = try? VersionID.parse(String(decoding: m.mutate(Array("00063a1f9c2b4d10".utf8)), as: UTF8.self))
            case 6: _ = try? ObjectLockConfiguration.parse(m.mutate(Self.lockSeed))
            case 7: _ = try? ObjectLock.parseRetention(m.mutate(Self.retentionSeed), now: Date())
            case 8: _ = MetadataEncoding.decode(String(decoding: m.mutate(Array("a =?utf-8?q?Orl=C3=A9ans?= =?UTF-8?B?w6k=?=".utf8)), as: UTF8.self))
            default: _ = try? Tagging.parseHeader(String(decoding: m.mutate(Array("a=1&b=two%20w&c=x+y".utf8)), as: UTF8.self))
            }
        }
    }

    @Test("ranges, dates, percent-decoding")
    func smallParsers() {
        var m = Mutator(state: 4)
        for _ in 0..<Self.iterations {
            let r = String(decoding: m.mutate(Array("bytes=100-2000".utf8)), as: UTF8.self)
            if case .partial(let range) = ByteRange.parse(r, size: Int64.random(in: 0...5000, using: &m)) {
                #expect(range.start <= range.end)
            }
            _ = HTTPDate.parse(String(decoding: m.mutate(Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8)), as: UTF8.self))
            _ = AmzDate.parse(String(decoding: m.mutate(Array("20130524T000000Z".utf8)), as: UTF8.self))
            _ = URIEncoding.parseQuery(String(decoding: m.mutate(Array("a=%20b&c&d=%E2%9C%93".utf8)), as: UTF8.self))
        }
    }
}
