import Foundation

/// The right border of a growing tree: the perfect subtrees of the binary decomposition of
/// its size, enough to compute the root after each append (RFC 6962 MTH) in O(log n) space.
public struct CompactRange: Sendable {
    var stack: [(level: Int, hash: MerkleTree.Hash)] = []
    public private(set) var size: UInt64 = 0

    public init() {}

    /// Appends a leaf; returns the perfect subtrees it completes (the leaf first, then each
    /// parent it closes), which is what a store of the tree keeps.
    @discardableResult
    public mutating func append(_ leaf: MerkleTree.Hash) -> [(level: Int, index: UInt64, hash: MerkleTree.Hash)] {
        var created: [(level: Int, index: UInt64, hash: MerkleTree.Hash)] = [(0, size, leaf)]
        stack.append((0, leaf))
        while stack.count >= 2, stack[stack.count - 1].level == stack[stack.count - 2].level {
            let right = stack.removeLast(), left = stack.removeLast()
            let level = left.level + 1
            let node = MerkleTree.nodeHash(left.hash, right.hash)
            stack.append((level, node))
            created.append((level, size >> UInt64(level), node))
        }
        size += 1
        return created
    }

    /// The range of a tree of `size` leaves from its stored perfect subtrees (one per set bit).
    public init(size: UInt64, _ perfect: MerkleTree.PerfectSubtree) throws {
        var start: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where size & (UInt64(1) << UInt64(level)) != 0 {
            stack.append((level, try perfect(level, start >> UInt64(level))))
            start += UInt64(1) << UInt64(level)
        }
        self.size = size
    }

    public var root: MerkleTree.Hash {
        guard var r = stack.last?.hash else { return MerkleTree.emptyRoot }
        for s in stack.dropLast().reversed() { r = MerkleTree.nodeHash(s.hash, r) }
        return r
    }
}

/// Checks a log end to end, as an outsider would from an export: every checkpoint's signature,
/// every entry's position and leaf hash, and the root at every checkpointed size. Pure: the
/// caller feeds checkpoints first, then entries in order.
public struct LogVerifier {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var index: UInt64
        public var reason: String
        public var description: String { "entry \(index): \(reason)" }
    }

    public struct Report: Sendable {
        public var entries: UInt64 = 0
        public var expired: UInt64 = 0
        public var checkpointsVerified = 0
        public var latest: Checkpoint?
        public var firstBad: Problem?
        public var ok: Bool { firstBad == nil }
    }

    let verifier: NoteVerifier
    var roots: [UInt64: MerkleTree.Hash] = [:]
    var tree = CompactRange()
    var lastGood: UInt64 = 0
    var contentProblem: Problem?
    public private(set) var report = Report()

    public init(verifier: NoteVerifier) {
        self.verifier = verifier
    }

    /// A signed checkpoint; a forged or altered one is an error of its own (not an entry's).
    public mutating func checkpoint(_ note: String) throws(NoteError) {
        let cp = try Checkpoint.parse(text: verifier.open(note))
        guard cp.origin == verifier.name else { throw NoteError("checkpoint of another log (\(cp.origin))") }
        if let other = roots[cp.size], other != cp.root { throw NoteError("two checkpoints of size \(cp.size) disagree") }
        roots[cp.size] = cp.root
        if report.latest.map({ $0.size < cp.size }) ?? true { report.latest = cp }
    }

    /// The next entry of the export: `json` nil when its period expired (then `leaf` is all
    /// there is); `problem` when the exporter could not read it as stored.
    public mutating func entry(index: UInt64, leaf: MerkleTree.Hash?, json: [UInt8]?, problem: String? = nil) {
        guard report.firstBad == nil else { return }
        let expected = tree.size
        if index != expected {
            fail(
                expected,
                index > expected
                    ? "missing (the next entry present is \(index))" : "out of order (entry \(index) appears again after \(expected - 1))")
            return
        }
        if let problem {
            fail(index, problem)
            return
        }
        let hash: MerkleTree.Hash
        if let json {
            hash = MerkleTree.leafHash(json)
            guard let entry = try? AuditEntry.decode(json) else {
                fail(index, "not a valid entry")
                return
            }
            guard entry.index == index else {
                fail(index, "holds the content of entry \(entry.index) (reordered)")
                return
            }
            if let leaf, leaf != hash {
                fail(index, "its content does not match its recorded leaf hash (modified)")
                return
            }
        } else {
            guard let leaf else {
                fail(index, "neither content nor leaf hash")
                return
            }
            hash = leaf
            report.expired += 1
        }
        tree.append(hash)
        report.entries = tree.size
        if let signed = roots[tree.size] {
            if signed == tree.root {
                lastGood = tree.size
                report.checkpointsVerified += 1
            } else {
                fail(
                    lastGood,
                    "entries \(lastGood)…\(tree.size - 1) do not match the checkpoint signed for size \(tree.size) (modified, inserted or removed)")
            }
        }
    }

    mutating func fail(_ index: UInt64, _ reason: String) {
        if report.firstBad == nil { report.firstBad = Problem(index: index, reason: reason) }
    }

    /// Ends the check: entries past the last signed size, or a signed size never reached.
    public mutating func finish() -> Report {
        if report.firstBad == nil, let latest = report.latest {
            if tree.size > latest.size {
                fail(latest.size, "not covered by any signed checkpoint (appended behind the log's back)")
            } else if tree.size < latest.size {
                fail(tree.size, "missing: the latest checkpoint covers \(latest.size) entries, the log has \(tree.size)")
            }
        } else if report.firstBad == nil, tree.size > 0 {
            fail(0, "no signed checkpoint covers the log")
        }
        return report
    }
}
