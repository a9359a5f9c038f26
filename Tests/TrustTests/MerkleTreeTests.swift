import Foundation
import Testing

@testable import Audit

func unhex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16) ?? 0)
        i = j
    }
    return out
}

/// A tree held in memory, for the pure functions: perfect subtrees from the leaf hashes.
struct MemoryTree {
    var leaves: [MerkleTree.Hash] = []
    func perfect(_ level: Int, _ index: UInt64) -> MerkleTree.Hash {
        let lo = Int(index) << level
        if level == 0 { return leaves[lo] }
        let mid = lo + (1 << (level - 1))
        return MerkleTree.nodeHash(perfect(level - 1, UInt64(lo >> (level - 1))), perfect(level - 1, UInt64(mid >> (level - 1))))
    }
}

@Suite("RFC 6962 Merkle tree")
struct MerkleTreeTests {
    // The Certificate Transparency reference leaves and tree heads (RFC 6962 test data).
    static let leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(unhex)
    static let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map(unhex)

    static var tree: MemoryTree { MemoryTree(leaves: leaves.map { MerkleTree.leafHash($0) }) }

    @Test("roots of the reference tree at every size, by subtrees and by the compact range")
    func roots() throws {
        var range = CompactRange()
        #expect(range.root == Self.roots[0])
        for n in 1...8 {
            let t = MemoryTree(leaves: Array(Self.tree.leaves.prefix(n)))
            #expect(MerkleTree.root(size: UInt64(n), t.perfect) == Self.roots[n])
            range.append(t.leaves[n - 1])
            #expect(range.root == Self.roots[n])
        }
    }

    @Test("published inclusion and consistency proofs")
    func publishedProofs() throws {
        let t = Self.tree
        #expect(
            try MerkleTree.inclusionProof(index: 0, size: 8, t.perfect)
                == [
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ].map(unhex))
        #expect(
            try MerkleTree.inclusionProof(index: 5, size: 8, t.perfect)
                == [
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ].map(unhex))
        #expect(
            try MerkleTree.consistencyProof(oldSize: 2, newSize: 8, t.perfect)
                == [
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ].map(unhex))
    }

    @Test("every proof of trees up to 40 leaves verifies, and a changed proof does not")
    func allProofs() throws {
        let t = MemoryTree(leaves: (0..<40).map { MerkleTree.leafHash([UInt8($0), 7]) })
        for n in UInt64(1)...40 {
            let root = MerkleTree.root(size: n, t.perfect)
            for i in 0..<n {
                let proof = try MerkleTree.inclusionProof(index: i, size: n, t.perfect)
                #expect(MerkleTree.verifyInclusion(leaf: t.leaves[Int(i)], index: i, size: n, proof: proof, root: root))
                #expect(!MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash([0xff]), index: i, size: n, proof: proof, root: root))
                if let first = proof.first {
                    var bad = proof
                    bad[0] = MerkleTree.nodeHash(first, first)
                    #expect(!MerkleTree.verifyInclusion(leaf: t.leaves[Int(i)], index: i, size: n, proof: bad, root: root))
                }
            }
            for m in UInt64(1)...n {
                let old = MerkleTree.root(size: m, t.perfect)
                let proof = try MerkleTree.consistencyProof(oldSize: m, newSize: n, t.perfect)
                #expect(MerkleTree.verifyConsistency(oldSize: m, newSize: n, oldRoot: old, newRoot: root, proof: proof))
                if m < n {
                    #expect(!MerkleTree.verifyConsistency(oldSize: m, newSize: n, oldRoot: root, newRoot: root, proof: proof))
                    #expect(!MerkleTree.verifyConsistency(oldSize: m, newSize: n, oldRoot: old, newRoot: old, proof: proof))
                }
            }
        }
    }
}

@Suite("Signed checkpoints and the log verifier")
struct CheckpointTests {
    @Test("a signed checkpoint opens with its key; a forged or altered one does not")
    func signedNote() throws {
        let signer = try NoteSigner(name: "example.org/log", key: .init())
        let cp = Checkpoint(origin: "example.org/log", size: 8, root: MerkleTreeTests.roots[8])
        let note = try signer.sign(cp.text)
        let verifier = try NoteVerifier(encoded: signer.verifier.encoded)
        #expect(try Checkpoint.parse(text: verifier.open(note)) == cp)
        #expect(throws: NoteError.self) { try verifier.open(note.replacingOccurrences(of: "\n8\n", with: "\n9\n")) }
        let forger = try NoteSigner(name: "example.org/log", key: .init())
        #expect(throws: NoteError.self) { try verifier.open(try forger.sign(cp.text)) }
    }

    @Test("the verifier names the first bad index for a changed, removed, reordered or appended entry")
    func tamper() throws {
        let signer = try NoteSigner(name: "t", key: .init())
        let entries = (0..<10).map { i in
            AuditEntry(
                index: UInt64(i),
                event: AuditEvent(
                    time: Date(timeIntervalSince1970: 1_800_000_000 + Double(i)), principal: "u", action: "GetObject", result: "allowed")
            ).canonicalJSON()
        }
        var range = CompactRange()
        var notes: [String] = []
        for e in entries {
            range.append(MerkleTree.leafHash(e))
            notes.append(try signer.sign(Checkpoint(origin: "t", size: range.size, root: range.root).text))
        }
        func run(_ list: [(UInt64, [UInt8])]) throws -> LogVerifier.Report {
            var v = LogVerifier(verifier: signer.verifier)
            for n in notes { try v.checkpoint(n) }
            for (i, e) in list { v.entry(index: i, leaf: nil, json: e) }
            return v.finish()
        }
        let all = entries.enumerated().map { (UInt64($0.offset), $0.element) }
        #expect(try run(all).ok)
        var changed = all
        changed[4].1 = Array(String(decoding: changed[4].1, as: UTF8.self).replacingOccurrences(of: "GetObject", with: "PutObject").utf8)
        #expect(try run(changed).firstBad?.index == 4)
        var removed = all
        removed.remove(at: 6)
        #expect(try run(removed).firstBad?.index == 6)
        var swapped = all
        swapped[2].1 = all[3].1
        swapped[3].1 = all[2].1
        #expect(try run(swapped).firstBad?.index == 2)
        let extra = AuditEntry(index: 10, event: AuditEvent(time: Date(), principal: "x", action: "GetObject", result: "allowed")).canonicalJSON()
        #expect(try run(all + [(10, extra)]).firstBad?.index == 10)
        #expect(try run(Array(all.dropLast())).firstBad?.index == 9)
    }
}

@Suite("Post-order positions of stored subtrees")
struct PositionTests {
    @Test("appending leaves writes positions 0, 1, 2, … with no gap and no repeat")
    func sequential() {
        var range = CompactRange()
        var next: Int64 = 0
        for i in 0..<300 {
            for n in range.append(MerkleTree.leafHash([UInt8(i & 0xff)])) {
                #expect(AuditLog.position(level: n.level, index: n.index) == next)
                next += 1
            }
        }
    }
}
