import Crypto
import Foundation
import TestSupport
import Testing

@testable import Sealing

/// Random sizes around chunk boundaries, random segmentations, random ranges: a sealed range
/// read returns exactly the plaintext range, reading only the chunks it needs.
@Suite struct PropertyTests {
    static let c = SealedFormat.chunkSize

    static func randomSize<G: RandomNumberGenerator>(_ rng: inout G) -> Int {
        let base = [0, 1, c - 1, c, c + 1, 2 * c - 1, 2 * c, 3 * c + 7, 5 * c].randomElement(using: &rng) ?? 0
        return max(0, base + Int.random(in: -2...2, using: &rng))
    }

    @Test(arguments: 0..<12)
    func rangeReadsEqualPlaintext(seed: Int) throws {
        var rng = SplitMix64(state: UInt64(seed) &* 7919)
        let segmentCount = Int.random(in: 1...3, using: &rng)
        var segments: [Segment] = []
        var number = UInt32(segmentCount == 1 ? 0 : 1)
        for _ in 0..<segmentCount {
            segments.append(Segment(number: number, size: Int64(Self.randomSize(&rng))))
            number += UInt32.random(in: 1...3, using: &rng)
        }
        let s = try TamperTests.sample(segments: segments, seed: UInt64(seed))
        #expect(Int64(s.payload.count) == s.layout.sealedSize)
        var out = try Fixture.open(s.payload[...], keys: s.keys, span: s.layout.whole(), using: &rng)
        #expect(out == s.plain)
        guard !s.plain.isEmpty else { return }
        for _ in 0..<40 {
            let a = Int.random(in: 0..<s.plain.count, using: &rng)
            let b = Int.random(in: a..<min(s.plain.count, a + Int.random(in: 1...(3 * Self.c), using: &rng)), using: &rng)
            let span = try #require(s.layout.span(first: Int64(a), last: Int64(b)))
            // Only the chunks holding the range are read: less than one chunk on either side.
            #expect(span.sealedLength <= Int64(b - a + 1) + 2 * Int64(SealedFormat.sealedChunkSize) + 64)
            out = try Fixture.open(s.payload[Int(span.sealedFirst)...Int(span.sealedLast)], keys: s.keys, span: span, using: &rng)
            #expect(out == Array(s.plain[a...b]), "range \(a)-\(b) of \(segments)")
        }
        #expect(s.layout.span(first: 0, last: Int64(s.plain.count)) == nil)
    }

    @Test func sealerRefusesWrongLengths() throws {
        let keys = try ObjectKeys(dek: SymmetricKey(size: .bits256), nonce: [UInt8](repeating: 1, count: 32))
        var out: [UInt8] = []
        var short = try SegmentSealer(keys: keys, segment: 0, plainLength: 10)
        try [UInt8](repeating: 0, count: 9).withUnsafeBytes { try short.feed($0, into: &out) }
        #expect(throws: SealingError.truncated) { try short.finish(into: &out) }
        var long = try SegmentSealer(keys: keys, segment: 0, plainLength: 10)
        #expect(throws: SealingError.extended) { try [UInt8](repeating: 0, count: 11).withUnsafeBytes { try long.feed($0, into: &out) } }
    }
}
