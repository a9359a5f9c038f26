import Crypto

/// RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree math, with no storage of its own: callers hand in
/// the hashes of *perfect* subtrees (2^level leaves starting at `index << level`), which is
/// what an append-only store keeps (see `AuditLog`). Every function here is pure.
public enum MerkleTree {
    public typealias Hash = [UInt8]
    /// Hash of the perfect subtree of 2^level leaves whose first leaf is `index << level`.
    public typealias PerfectSubtree = (_ level: Int, _ index: UInt64) throws -> Hash

    public static func leafHash<D: Sequence<UInt8>>(_ data: D) -> Hash {
        var h = SHA256()
        h.update(data: [0x00])
        h.update(data: Array(data))
        return Array(h.finalize())
    }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var h = SHA256()
        h.update(data: [0x01])
        h.update(data: left)
        h.update(data: right)
        return Array(h.finalize())
    }

    /// MTH({}) = SHA-256 of the empty string.
    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    /// MTH(D[lo:hi]) from perfect subtrees (RFC 6962 §2.1 recursion: split at the largest
    /// power of two below the size).
    public static func subtreeHash(_ lo: UInt64, _ hi: UInt64, _ perfect: PerfectSubtree) rethrows -> Hash {
        let n = hi - lo
        if n == 0 { return emptyRoot }
        if n & (n - 1) == 0, lo % n == 0 { return try perfect(n.trailingZeroBitCount, lo / n) }
        let k = splitPoint(n)
        return nodeHash(try subtreeHash(lo, lo + k, perfect), try subtreeHash(lo + k, hi, perfect))
    }

    public static func root(size: UInt64, _ perfect: PerfectSubtree) rethrows -> Hash {
        try subtreeHash(0, size, perfect)
    }

    /// PATH(m, D[n]) of RFC 6962 §2.1.1: the audit path of leaf `index` in the tree of `size`.
    public static func inclusionProof(index: UInt64, size: UInt64, _ perfect: PerfectSubtree) throws -> [Hash] {
        guard index < size else { throw MerkleError.outOfRange("leaf \(index) is not in a tree of size \(size)") }
        func path(_ m: UInt64, _ lo: UInt64, _ hi: UInt64) throws -> [Hash] {
            let n = hi - lo
            if n == 1 { return [] }
            let k = splitPoint(n)
            if m < k { return try path(m, lo, lo + k) + [subtreeHash(lo + k, hi, perfect)] }
            return try path(m - k, lo + k, hi) + [subtreeHash(lo, lo + k, perfect)]
        }
        return try path(index, 0, size)
    }

    /// PROOF(m, D[n]) of RFC 6962 §2.1.2: that the tree of `oldSize` is a prefix of `newSize`.
    public static func consistencyProof(oldSize: UInt64, newSize: UInt64, _ perfect: PerfectSubtree) throws -> [Hash] {
        guard oldSize <= newSize else { throw MerkleError.outOfRange("tree size \(oldSize) is larger than \(newSize)") }
        guard oldSize > 0, oldSize < newSize else { return [] }
        func subproof(_ m: UInt64, _ lo: UInt64, _ hi: UInt64, _ complete: Bool) throws -> [Hash] {
            let n = hi - lo
            if m == n { return complete ? [] : [try subtreeHash(lo, hi, perfect)] }
            let k = splitPoint(n)
            if m <= k { return try subproof(m, lo, lo + k, complete) + [subtreeHash(lo + k, hi, perfect)] }
            return try subproof(m - k, lo + k, hi, false) + [subtreeHash(lo, lo + k, perfect)]
        }
        return try subproof(oldSize, 0, newSize, true)
    }

    /// RFC 9162 §2.1.3.2.
    public static func verifyInclusion(leaf: Hash, index: UInt64, size: UInt64, proof: [Hash], root: Hash) -> Bool {
        guard index < size else { return false }
        var fn = index, sn = size - 1, r = leaf
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && constantTimeEqual(r, root)
    }

    /// RFC 9162 §2.1.4.2.
    public static func verifyConsistency(oldSize: UInt64, newSize: UInt64, oldRoot: Hash, newRoot: Hash, proof: [Hash]) -> Bool {
        if oldSize == newSize { return proof.isEmpty && constantTimeEqual(oldRoot, newRoot) }
        guard oldSize < newSize else { return false }
        if oldSize == 0 { return proof.isEmpty }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        guard let first = path.first else { return false }
        var fn = oldSize - 1, sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = first, sr = first
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && constantTimeEqual(fr, oldRoot) && constantTimeEqual(sr, newRoot)
    }

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func splitPoint(_ n: UInt64) -> UInt64 {
        UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }
}

public enum MerkleError: Error, Equatable, CustomStringConvertible {
    case outOfRange(String)
    case missingNode(level: Int, index: UInt64)

    public var description: String {
        switch self {
        case .outOfRange(let m): m
        case .missingNode(let l, let i): "the log store lacks the subtree at level \(l), index \(i)"
        }
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
