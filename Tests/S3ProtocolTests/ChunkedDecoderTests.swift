import NIOCore
import Testing

@testable import S3Protocol

@Suite("aws-chunked decoder")
struct ChunkedDecoderTests {
    /// The exact wire bytes boto3 sent over HTTPS (PEERS.md), after HTTP chunked decoding.
    static let boto3 = Array("b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".utf8)

    func decodeAll(_ pieces: [[UInt8]]) throws -> (payload: [UInt8], trailers: [(String, String)], complete: Bool) {
        var d = AWSChunkedDecoder()
        var payload = [UInt8]()
        var trailers: [(String, String)] = []
        for p in pieces {
            for e in try d.feed(ByteBuffer(bytes: p)) {
                switch e {
                case .data(let b): payload += Array(buffer: b)
                case .trailer(let n, let v): trailers.append((n, v))
                default: break
                }
            }
        }
        return (payload, trailers, d.isComplete)
    }

    @Test("boto3's unsigned trailer body decodes when split at every byte position")
    func everySplit() throws {
        let body = Self.boto3
        for i in 0...body.count {
            let r = try decodeAll([Array(body[..<i]), Array(body[i...])])
            #expect(r.payload == Array("hello world".utf8), "split at \(i)")
            #expect(r.trailers.count == 1 && r.trailers[0].0 == "x-amz-checksum-crc32" && r.trailers[0].1 == "DUoRhQ==")
            #expect(r.complete)
        }
    }

    @Test("one byte at a time, with several chunks and chunk extensions")
    func byteByByte() throws {
        let body = Array("3;chunk-signature=\(String(repeating: "a", count: 64))\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".utf8)
        let r = try decodeAll(body.map { [$0] })
        #expect(r.payload == Array("abcde".utf8))
        #expect(r.complete)
    }

    @Test(
        "malformed framing is refused",
        arguments: [
            "zz\r\nhello\r\n0\r\n\r\n",  // not hex
            "5\r\nhelloX\r\n0\r\n\r\n",  // missing CRLF after data
            "5\nhello\r\n0\r\n\r\n",  // bare LF
            "5;chunk-signature=abc\r\nhello\r\n",  // short signature
            "fffffffffffffffff\r\n",  // size overflow
            "0\r\nbad trailer\r\n\r\n",  // trailer without colon
            "0\r\n\r\nextra",  // data after the end
        ])
    func malformed(_ text: String) {
        #expect(throws: AWSChunkedDecoder.DecodeError.self) { _ = try decodeAll([Array(text.utf8)]) }
    }

    @Test("a truncated body is incomplete")
    func truncated() throws {
        for cut in [1, 5, 10, Self.boto3.count - 1] {
            let r = try decodeAll([Array(Self.boto3[..<cut])])
            #expect(!r.complete)
        }
    }

    @Test("an over-long header line is refused before it grows without bound")
    func longLine() {
        let line = [UInt8](repeating: UInt8(ascii: "1"), count: 10_000)
        #expect(throws: AWSChunkedDecoder.DecodeError.self) { _ = try decodeAll([line]) }
    }

    @Test("undeclared trailers and missing declared trailers are refused")
    func trailerRules() throws {
        var d = AWSChunkedDecoder()
        var v = ChunkedBodyVerifier(signing: nil, expectTrailer: true, declaredTrailers: ["x-amz-checksum-crc32c"])
        #expect(throws: S3Error.self) {
            for e in try d.feed(ByteBuffer(bytes: Self.boto3)) { _ = try v.consume(e) }
        }
        var d2 = AWSChunkedDecoder()
        var v2 = ChunkedBodyVerifier(signing: nil, expectTrailer: true, declaredTrailers: ["x-amz-checksum-crc32"])
        #expect(throws: S3Error.self) {
            for e in try d2.feed(ByteBuffer(bytes: Array("0\r\n\r\n".utf8))) { _ = try v2.consume(e) }
        }
    }
}
