import Crypto
import Foundation
import TestSupport

@testable import Sealing

/// Test helpers: seal whole payloads and open spans of them, feeding bytes in random slices.
enum Fixture {
    static func bytes(_ hex: String) -> [UInt8] {
        MasterKey.hex(hex) ?? []
    }

    static func hex(_ b: some Sequence<UInt8>) -> String {
        b.map { String(format: "%02x", $0) }.joined()
    }

    /// The vectors' plaintext: byte i is i mod 251.
    static func plaintext(_ n: Int) -> [UInt8] {
        (0..<n).map { UInt8($0 % 251) }
    }

    /// Seals `plain` cut into `segments`, each fed in slices of random sizes.
    static func seal<G: RandomNumberGenerator>(_ plain: [UInt8], keys: ObjectKeys, segments: [Segment], using rng: inout G) throws -> [UInt8] {
        var out: [UInt8] = []
        var at = 0
        for seg in segments {
            var sealer = try SegmentSealer(keys: keys, segment: seg.number, plainLength: seg.size)
            let end = at + Int(seg.size)
            while at < end {
                let n = min(end - at, Int.random(in: 1...40_000, using: &rng))
                try plain[at..<(at + n)].withUnsafeBytes { try sealer.feed($0, into: &out) }
                at += n
            }
            try sealer.finish(into: &out)
        }
        return out
    }

    /// Opens `sealed` (exactly the span's bytes) fed in slices of random sizes.
    static func open<G: RandomNumberGenerator>(
        _ sealed: ArraySlice<UInt8>, keys: ObjectKeys, span: PayloadLayout.Span, using rng: inout G
    ) throws -> [UInt8] {
        var opener = PayloadOpener(keys: keys, span: span)
        var out: [UInt8] = []
        var at = sealed.startIndex
        while at < sealed.endIndex {
            let n = min(sealed.endIndex - at, Int.random(in: 1...50_000, using: &rng))
            try sealed[at..<(at + n)].withUnsafeBytes { try opener.feed($0, into: &out) }
            at += n
        }
        try opener.finish()
        return out
    }
}
