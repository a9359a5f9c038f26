/// Mutates seed inputs for the bounded fuzz harnesses (flips, inserts, deletes, duplicates,
/// truncates bytes, or returns noise), replayable from its seed.
public struct ByteMutator: RandomNumberGenerator {
    var rng: SplitMix64
    public init(state: UInt64) { rng = SplitMix64(state: state) }
    public mutating func next() -> UInt64 { rng.next() }

    /// Flips, inserts, deletes, duplicates or truncates bytes of a seed, or returns noise.
    public mutating func mutate(_ seed: [UInt8]) -> [UInt8] {
        var b = seed
        if Int.random(in: 0..<10, using: &self) == 0 {
            return (0..<Int.random(in: 0..<300, using: &self)).map { _ in UInt8.random(in: 0...255, using: &self) }
        }
        for _ in 0..<Int.random(in: 1...4, using: &self) {
            let op = Int.random(in: 0..<5, using: &self)
            let i = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &self)
            switch op {
            case 0 where !b.isEmpty: b[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &self))
            case 1: b.insert([0, 0x0D, 0x0A, 0x3B, 0x3D, 0x3C, 0x2F, 0xFF, 0x25].randomElement(using: &self)!, at: min(i, b.count))
            case 2 where !b.isEmpty: b.remove(at: i)
            case 3 where !b.isEmpty: b.insert(contentsOf: b[i..<min(b.count, i + 16)], at: i)
            case 4: b = Array(b.prefix(i))
            default: break
            }
        }
        return b
    }
}
