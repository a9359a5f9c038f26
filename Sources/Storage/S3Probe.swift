import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol

/// Finds out what an S3-compatible service accepts, with a few harmless requests under a
/// `passerelle-probe/` name in `bucket`: whether DeleteObjects needs Content-MD5, whether
/// aws-chunked bodies are accepted, whether a wrong `x-amz-checksum-crc32c` is refused, and
/// the highest part number.
public enum S3Probe {
    public static func capabilities(client: S3Client, bucket: String, base: StoreCapabilities = .s3) async throws -> (StoreCapabilities, [String]) {
        var caps = base
        var notes: [String] = []
        let probe = "passerelle-probe/\(UInt64.random(in: 0...UInt64.max))"
        // Credentials and bucket first: a refusal here is the answer to report.
        _ = try await client.perform { client.request(.GET, bucket: bucket, query: [("list-type", "2"), ("max-keys", "1")]) }
        notes.append("bucket \(bucket): reachable, credentials accepted")

        let xml = Array("<Delete><Quiet>true</Quiet><Object><Key>\(XMLWriter.escape(probe))</Key></Object></Delete>".utf8)
        let crc = Data(ChecksumHasher.digest(.crc32, of: xml)).base64EncodedString()
        let delete = try await client.transport.send(
            {
                var r = client.request(
                    .POST, bucket: bucket, query: [("delete", "")],
                    headers: [("content-length", String(xml.count)), ("x-amz-checksum-crc32", crc)],
                    payloadHash: Hex.encode(ChecksumHasher.digest(.sha256, of: xml)))
                r.body = .bytes(ByteBuffer(bytes: xml))
                return r
            }())
        _ = try await HTTPTransport.collect(delete)
        caps.needsContentMD5OnDelete = delete.status != .ok
        notes.append("DeleteObjects without Content-MD5: \(delete.status.code) → needs Content-MD5: \(caps.needsContentMD5OnDelete)")

        // aws-chunked with an unsigned payload and a CRC32 trailer, as modern SDKs send.
        let payload = "probe"
        let trailerCRC = Data(ChecksumHasher.digest(.crc32, of: Array(payload.utf8))).base64EncodedString()
        let chunked = "\(String(payload.utf8.count, radix: 16))\r\n\(payload)\r\n0\r\nx-amz-checksum-crc32:\(trailerCRC)\r\n\r\n"
        let put = try await client.transport.send(
            {
                var r = client.request(
                    .PUT, bucket: bucket, key: probe,
                    headers: [
                        ("content-encoding", "aws-chunked"), ("content-length", String(chunked.utf8.count)),
                        ("x-amz-decoded-content-length", String(payload.utf8.count)),
                        ("x-amz-trailer", "x-amz-checksum-crc32"),
                    ],
                    payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
                r.body = .bytes(ByteBuffer(string: chunked))
                return r
            }())
        _ = try await HTTPTransport.collect(put)
        caps.acceptsAWSChunked = put.status == .ok
        notes.append("aws-chunked upload: \(put.status.code) → accepted: \(caps.acceptsAWSChunked)")

        // A single PUT whose x-amz-checksum-crc32c is wrong must be refused for the gateway to
        // rely on that header instead of Content-MD5.
        let wrong = ChecksumValue(algorithm: .crc32c, digest: ChecksumHasher.digest(.crc32c, of: Array("not the payload".utf8))).base64
        let checked = try await client.transport.send(
            {
                var r = client.request(
                    .PUT, bucket: bucket, key: probe,
                    headers: [("content-length", String(payload.utf8.count)), (ChecksumAlgorithm.crc32c.headerName, wrong)])
                r.body = .bytes(ByteBuffer(string: payload))
                return r
            }())
        _ = try await HTTPTransport.collect(checked)
        caps.checksCRC32C = checked.status == .badRequest
        notes.append("PUT with a wrong x-amz-checksum-crc32c: \(checked.status.code) → checked: \(caps.checksCRC32C)")

        let store = S3Store(client: client, bucket: bucket, capabilities: caps)
        let upload = try await store.startParts(name: probe, attributes: .none)
        let part = try await client.transport.send(
            {
                var r = client.request(
                    .PUT, bucket: bucket, key: probe, query: [("partNumber", "1001"), ("uploadId", upload)],
                    headers: [("content-length", "1")])
                r.body = .bytes(ByteBuffer(string: "x"))
                return r
            }())
        _ = try await HTTPTransport.collect(part)
        caps.maxPartNumber = part.status == .ok ? 10_000 : 1000
        notes.append("part number 1001: \(part.status.code) → highest part number: \(caps.maxPartNumber)")
        try? await store.abortParts(name: probe, upload: upload, parts: [])
        try await store.delete(name: probe)
        return (caps, notes)
    }
}
