import Crypto
import Foundation
import TestSupport
import Testing

@testable import Sealing

/// Every tampering of a sealed object is detected before a wrong byte is released.
@Suite struct TamperTests {
    static let chunk = SealedFormat.sealedChunkSize

    struct Sample {
        let keys: ObjectKeys
        let plain: [UInt8]
        let layout: PayloadLayout
        let payload: [UInt8]
        let dek: SymmetricKey
    }

    static func sample(size: Int = 3 * 16384 + 100, segments: [Segment]? = nil, seed: UInt64 = 1) throws -> Sample {
        var rng = SplitMix64(state: seed)
        let dek = SymmetricKey(size: .bits256)
        let keys = try ObjectKeys(dek: dek, nonce: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let segs = segments ?? [Segment(number: 0, size: Int64(size))]
        let layout = PayloadLayout(segments: segs)
        let plain = (0..<Int(layout.plaintextSize)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return Sample(keys: keys, plain: plain, layout: layout, payload: try Fixture.seal(plain, keys: keys, segments: segs, using: &rng), dek: dek)
    }

    /// Opens a (tampered) payload as a full read does, collecting what would be released.
    static func openAll(_ s: Sample, _ payload: [UInt8], keys: ObjectKeys? = nil) -> (released: [UInt8], error: SealingError?) {
        var opener = PayloadOpener(keys: keys ?? s.keys, span: s.layout.whole())
        var out: [UInt8] = []
        do {
            var at = 0
            while at < payload.count {
                let n = min(payload.count - at, 10_000)
                try payload[at..<(at + n)].withUnsafeBytes { try opener.feed($0, into: &out) }
                at += n
            }
            try opener.finish()
            return (out, nil)
        } catch let e as SealingError {
            return (out, e)
        } catch {
            return (out, .malformed("\(error)"))
        }
    }

    /// What was released before the error is a true prefix of the plaintext.
    static func expectDetected(_ s: Sample, _ payload: [UInt8], _ what: String, keys: ObjectKeys? = nil) {
        let (released, error) = openAll(s, payload, keys: keys)
        #expect(error != nil, "\(what) was not detected")
        #expect(Array(s.plain.prefix(released.count)) == released, "\(what): wrong bytes released")
    }

    @Test func flippedBitAnywhereIsDetected() throws {
        let s = try Self.sample()
        var rng = SplitMix64(state: 99)
        let positions =
            [0, 15, 16383, 16384, 16399, Self.chunk, s.payload.count - 17, s.payload.count - 1]
            + (0..<40).map { _ in Int.random(in: 0..<s.payload.count, using: &rng) }
        for p in positions {
            var t = s.payload
            t[p] ^= UInt8(1) << UInt8(p % 8)
            Self.expectDetected(s, t, "bit flip at \(p)")
        }
    }

    @Test func swappedDuplicatedTruncatedExtendedChunks() throws {
        let s = try Self.sample()
        let c = Self.chunk
        let chunks = stride(from: 0, to: s.payload.count, by: c).map { Array(s.payload[$0..<min($0 + c, s.payload.count)]) }
        #expect(chunks.count == 4)
        Self.expectDetected(s, chunks[1] + chunks[0] + chunks[2] + chunks[3], "swapped chunks")
        Self.expectDetected(s, chunks[0] + chunks[0] + chunks[2] + chunks[3], "duplicated chunk")
        Self.expectDetected(s, chunks[0] + chunks[1] + chunks[2], "dropped last chunk")
        Self.expectDetected(s, chunks[0] + chunks[1] + chunks[2] + chunks[2], "last chunk replaced by a full one")
        Self.expectDetected(s, Array(s.payload.dropLast()), "truncated by one byte")
        Self.expectDetected(s, s.payload + [0], "extended by one byte")
        Self.expectDetected(s, s.payload + chunks[3], "extended by a chunk")
        // A payload cut at a chunk boundary, its last full chunk re-sealed as final, still fails:
        // the final flag sits in the nonce of one precise chunk index.
        var out: [UInt8] = []
        let third = Array(s.plain[(2 * 16384)..<(3 * 16384)])
        try third.withUnsafeBytes { try s.keys.sealChunk($0, segment: 0, index: 2, last: true, into: &out) }
        Self.expectDetected(s, chunks[0] + chunks[1] + out, "forged early end")
    }

    @Test func segmentsCannotBeReorderedOrDropped() throws {
        let s = try Self.sample(segments: [Segment(number: 1, size: 20000), Segment(number: 2, size: 20000)])
        let first = Array(s.payload.prefix(Int(SealedFormat.sealedLength(20000))))
        let second = Array(s.payload.suffix(Int(SealedFormat.sealedLength(20000))))
        Self.expectDetected(s, second + first, "segments swapped")
        Self.expectDetected(s, first, "segment dropped")
        Self.expectDetected(s, first + first, "segment duplicated")
    }

    @Test func payloadOfAnotherObjectOrWrongKeyIsDetected() throws {
        let a = try Self.sample(seed: 1), b = try Self.sample(seed: 2)
        Self.expectDetected(a, b.payload, "payload of another object")
        Self.expectDetected(a, a.payload, "header (keys) of another object", keys: b.keys)
        let wrong = try ObjectKeys(dek: SymmetricKey(size: .bits256), nonce: a.keys.nonce)
        Self.expectDetected(a, a.payload, "wrong DEK", keys: wrong)
        #expect(throws: SealingError.self) { try wrong.verify(commitment: a.keys.commitment) }
    }

    static func envelope(_ s: Sample, kek: KEK) throws -> [UInt8] {
        let meta = SealedMetadata(
            object: "ab", key: "k", size: s.layout.plaintextSize, etag: "\"e\"", lastModified: 0, contentType: nil,
            headers: [:], user: ["a": "b"], checksumAlgorithm: nil, checksum: nil, checksumType: nil,
            partsCount: nil, segments: s.layout.segments)
        return try Envelope.seal(keys: s.keys, wrapped: try kek.wrap(s.dek, objectNonce: s.keys.nonce), metadata: meta)
    }

    @Test func envelopeTampering() throws {
        let s = try Self.sample(size: 10)
        let kek = try KEK(id: "ds", version: 1, key: SymmetricKey(size: .bits256))
        let bytes = try Self.envelope(s, kek: kek)
        let good = try Envelope(parsing: bytes)
        #expect(try good.open(dek: try kek.unwrap(good.wrapped, objectNonce: good.nonce)).user == ["a": "b"])
        // Any flipped bit: structure, unwrap, commitment or metadata authentication fails.
        for p in stride(from: 0, to: bytes.count, by: 3) {
            var t = bytes
            t[p] ^= 0x10
            #expect(throws: SealingError.self, "flip at \(p)") {
                let e = try Envelope(parsing: t)
                _ = try e.open(dek: try kek.unwrap(e.wrapped, objectNonce: e.nonce))
            }
        }
        var v2 = bytes
        v2[5] = 2
        #expect(throws: SealingError.unsupportedVersion(2)) { try Envelope(parsing: v2) }
        #expect(throws: SealingError.self) { try Envelope(parsing: Array(bytes.dropLast())) }
        // A wrong KEK, or the right KEK under another version, does not unwrap.
        let other = try KEK(id: "ds", version: 1, key: SymmetricKey(size: .bits256))
        #expect(throws: SealingError.self) { try other.unwrap(good.wrapped, objectNonce: good.nonce) }
        // The header of another object does not open this object's payload.
        let t = try Self.sample(size: 10, seed: 5)
        let foreign = try Envelope(parsing: try Self.envelope(t, kek: kek))
        let foreignKeys = try ObjectKeys(dek: try kek.unwrap(foreign.wrapped, objectNonce: foreign.nonce), nonce: foreign.nonce)
        Self.expectDetected(s, s.payload, "header of another object", keys: foreignKeys)
    }

    @Test func rewrappingKeepsTheMetadataValid() throws {
        let s = try Self.sample(size: 10)
        let v1 = try KEK(id: "ds", version: 1, key: SymmetricKey(size: .bits256))
        let v2 = try KEK(id: "ds", version: 2, key: SymmetricKey(size: .bits256))
        var e = try Envelope(parsing: try Self.envelope(s, kek: v1))
        e.wrapped = try v2.wrap(try v1.unwrap(e.wrapped, objectNonce: e.nonce), objectNonce: e.nonce)
        let reread = try Envelope(parsing: e.bytes)
        #expect(reread.wrapped.version == 2)
        #expect(try reread.open(dek: try v2.unwrap(reread.wrapped, objectNonce: reread.nonce)).user == ["a": "b"])
        #expect(throws: SealingError.self) { try v1.unwrap(reread.wrapped, objectNonce: reread.nonce) }
    }
}

/// Random bytes and random mutations of valid inputs never crash the parsers: they are
/// refused with a typed error.
@Suite struct ParserFuzzTests {
    @Test func envelopeParserRefusesGarbage() throws {
        var rng = SplitMix64(state: 2024)
        let s = try TamperTests.sample(size: 100)
        let kek = try KEK(id: "fuzz", version: 1, key: SymmetricKey(size: .bits256))
        let valid = try TamperTests.envelope(s, kek: kek)
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                bytes = (0..<Int.random(in: 0...400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
                    default: bytes += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    }
                    if bytes.isEmpty { break }
                }
            }
            do {
                let e = try Envelope(parsing: bytes)
                _ = try e.open(dek: try kek.unwrap(e.wrapped, objectNonce: e.nonce))
                #expect(bytes == valid, "a mutated envelope opened")
            } catch is SealingError {
            }
        }
    }

    @Test func keyringParserRefusesGarbage() throws {
        var rng = SplitMix64(state: 7)
        let master = SymmetricKey(size: .bits256)
        var ring = Keyring()
        try ring.create("ds", now: Date(timeIntervalSince1970: 0))
        let valid = Array(try ring.sealed(master: master))
        for round in 0..<1000 {
            var bytes = round % 2 == 0 ? valid : (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if round % 2 == 0 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            do {
                let opened = try Keyring(sealed: Data(bytes), master: master)
                // JSON whitespace or base64 padding changes may still decode to the same keyring.
                #expect(opened == ring)
            } catch is KeyringError {
            }
        }
    }
}
