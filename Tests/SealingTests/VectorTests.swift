import Crypto
import Foundation
import TestSupport
import Testing

@testable import Sealing

/// `Tests/Vectors/sealed-v1.json`: every vector is re-derived from its inputs and must match
/// byte for byte. `PASSERELLE_WRITE_VECTORS=1` rewrites the file (after a deliberate change).
@Suite struct VectorTests {
    struct Vector: Codable {
        var name: String
        var dek: String
        var nonce: String
        var kek: String
        var kekId: String
        var kekVersion: UInt32
        var wrapNonce: String
        var plaintextLength: Int
        var segments: [Segment]
        var metadata: SealedMetadata
        var aeadKey: String
        var commitment: String
        var envelope: String
        var payload: String?
        var payloadSha256: String
    }

    struct File: Codable {
        var format: String
        var plaintext: String
        var vectors: [Vector]
    }

    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Vectors/sealed-v1.json").path

    static func build(name: String, segments: [Segment], seed: UInt8) throws -> Vector {
        let dek = (0..<32).map { UInt8($0) &+ seed }
        let nonce = (0..<32).map { UInt8(0x40 + $0) &+ seed }
        let kek = (0..<32).map { UInt8(0x80 + $0) }
        let wrapNonce = (0..<12).map { UInt8(0xC0 + $0) &+ seed }
        let layout = PayloadLayout(segments: segments)
        let plain = Fixture.plaintext(Int(layout.plaintextSize))
        let keys = try ObjectKeys(dek: SymmetricKey(data: dek), nonce: nonce)
        var rng = SplitMix64(state: UInt64(seed))
        let payload = try Fixture.seal(plain, keys: keys, segments: segments, using: &rng)
        let wrapped = try KEK(id: "cohort-2024", version: 3, key: SymmetricKey(data: kek)).wrap(
            SymmetricKey(data: dek), objectNonce: nonce, wrapNonce: wrapNonce)
        let metadata = SealedMetadata(
            object: "00112233445566778899aabbccddeeff", key: "patients/é/\(name).csv", size: layout.plaintextSize,
            etag: "\"\(Fixture.hex(Insecure.MD5.hash(data: plain)))\"", lastModified: 1_790_000_000.5,
            contentType: "text/csv", headers: ["cache-control": "no-store"], user: ["study": "s-42"],
            checksumAlgorithm: "SHA256", checksum: Data(SHA256.hash(data: plain)).base64EncodedString(),
            checksumType: "FULL_OBJECT", partsCount: segments.count > 1 ? segments.count : nil, segments: segments)
        let envelope = try Envelope.seal(keys: keys, wrapped: wrapped, metadata: metadata)
        return Vector(
            name: name, dek: Fixture.hex(dek), nonce: Fixture.hex(nonce), kek: Fixture.hex(kek), kekId: "cohort-2024", kekVersion: 3,
            wrapNonce: Fixture.hex(wrapNonce), plaintextLength: plain.count, segments: segments, metadata: metadata,
            aeadKey: keys.aead.withUnsafeBytes { Fixture.hex($0) }, commitment: Fixture.hex(keys.commitment),
            envelope: Fixture.hex(envelope), payload: payload.count <= 70_000 ? Fixture.hex(payload) : nil,
            payloadSha256: Fixture.hex(SHA256.hash(data: payload)))
    }

    static func all() throws -> File {
        let cases: [(String, [Segment])] = [
            ("empty", [Segment(number: 0, size: 0)]),
            ("one-byte", [Segment(number: 0, size: 1)]),
            ("one-full-chunk", [Segment(number: 0, size: 16384)]),
            ("chunk-plus-one", [Segment(number: 0, size: 16385)]),
            ("three-chunks", [Segment(number: 0, size: 40000)]),
            ("multipart", [Segment(number: 1, size: 20000), Segment(number: 2, size: 16384), Segment(number: 5, size: 5)]),
            ("large", [Segment(number: 0, size: 1_000_003)]),
        ]
        return File(
            format: "passerelle sealed v1 (docs/sealed-format.md)", plaintext: "byte i of the plaintext is i mod 251",
            vectors: try cases.enumerated().map { try build(name: $1.0, segments: $1.1, seed: UInt8($0)) })
    }

    @Test func publishedVectorsMatch() throws {
        let computed = try Self.all()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        if ProcessInfo.processInfo.environment["PASSERELLE_WRITE_VECTORS"] == "1" {
            try encoder.encode(computed).write(to: URL(fileURLWithPath: Self.path))
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let published = try decoder.decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: Self.path)))
        #expect(published.vectors.count == computed.vectors.count)
        for (p, c) in zip(published.vectors, computed.vectors) {
            #expect(p.envelope == c.envelope, "\(p.name): envelope")
            #expect(p.payloadSha256 == c.payloadSha256, "\(p.name): payload")
            #expect(p.payload == c.payload, "\(p.name): payload bytes")
            #expect(p.commitment == c.commitment && p.aeadKey == c.aeadKey, "\(p.name): key derivation")
        }
    }

    @Test func vectorsOpen() throws {
        for v in try Self.all().vectors {
            let envelope = try Envelope(parsing: Fixture.bytes(v.envelope))
            let kek = try KEK(id: v.kekId, version: v.kekVersion, key: SymmetricKey(data: Fixture.bytes(v.kek)))
            let dek = try kek.unwrap(envelope.wrapped, objectNonce: envelope.nonce)
            #expect(try envelope.open(dek: dek) == v.metadata)
            guard let hex = v.payload else { continue }
            let keys = try ObjectKeys(dek: dek, nonce: envelope.nonce)
            var rng = SplitMix64(state: 7)
            let plain = try Fixture.open(Fixture.bytes(hex)[...], keys: keys, span: PayloadLayout(segments: v.segments).whole(), using: &rng)
            #expect(plain == Fixture.plaintext(v.plaintextLength), "\(v.name)")
        }
    }
}
