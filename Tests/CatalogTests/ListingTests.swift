import Catalog
import Foundation
import TestSupport
import Testing

/// An in-memory sorted key space for the pure listing logic.
struct KeySpace {
    var keys: [String]

    init(_ keys: [String]) {
        self.keys = keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    func fetch(_ from: [UInt8], _ until: [UInt8]?, _ limit: Int) -> [String] {
        Array(
            keys.filter { k in
                let b = Array(k.utf8)
                return !b.lexicographicallyPrecedes(from) && (until.map { b.lexicographicallyPrecedes($0) } ?? true)
            }.prefix(limit))
    }

    /// Walks every page the way a V2 client does, returning keys and common prefixes seen.
    func walk(prefix: String, delimiter: String?, maxKeys: Int) async throws -> ([String], [String], Int) {
        var from: [UInt8] = []
        var keys: [String] = [], prefixes: [String] = [], pages = 0
        while true {
            let page = try await Listing.page(
                prefix: prefix, delimiter: delimiter, from: from, skipPrefixesUpTo: nil, maxKeys: maxKeys,
                key: { (k: String) in k }, fetch: { self.fetch($0, $1, $2) })
            pages += 1
            keys += page.contents
            prefixes += page.commonPrefixes
            guard page.isTruncated, let next = page.resumeFrom else { break }
            from = next
        }
        return (keys, prefixes, pages)
    }
}

@Suite("Listing")
struct ListingTests {
    static let space = KeySpace(["a", "a/b", "a/c/d", "a/c/e", "b", "b/", "c/x", "é", "z/1", "z/2", "z/3", "\u{7F}", "A"])

    @Test("byte order, not locale order: upper case first, é after z")
    func order() async throws {
        let (keys, _, _) = try await Self.space.walk(prefix: "", delimiter: nil, maxKeys: 1000)
        #expect(keys == ["A", "a", "a/b", "a/c/d", "a/c/e", "b", "b/", "c/x", "z/1", "z/2", "z/3", "\u{7F}", "é"])
    }

    @Test("delimiter rolls up common prefixes; pagination with max-keys 1 sees each exactly once", arguments: [1, 2, 3, 1000])
    func delimiter(maxKeys: Int) async throws {
        let (keys, prefixes, _) = try await Self.space.walk(prefix: "", delimiter: "/", maxKeys: maxKeys)
        #expect(keys == ["A", "a", "b", "\u{7F}", "é"])
        #expect(prefixes == ["a/", "b/", "c/", "z/"])
        let (k2, p2, _) = try await Self.space.walk(prefix: "a/", delimiter: "/", maxKeys: maxKeys)
        #expect(k2 == ["a/b"])
        #expect(p2 == ["a/c/"])
    }

    @Test("prefix without delimiter, and a multi-character delimiter")
    func prefixes() async throws {
        let (keys, _, pages) = try await Self.space.walk(prefix: "z/", delimiter: nil, maxKeys: 2)
        #expect(keys == ["z/1", "z/2", "z/3"])
        #expect(pages == 2)
        let (k, p, _) = try await KeySpace(["x--y--z", "x--w", "q"]).walk(prefix: "", delimiter: "--", maxKeys: 10)
        #expect(k == ["q"])
        #expect(p == ["x--"])
    }

    @Test("max-keys 0 gives an empty untruncated page")
    func zero() async throws {
        let page = try await Listing.page(
            prefix: "", delimiter: nil, from: [], skipPrefixesUpTo: nil, maxKeys: 0,
            key: { (k: String) in k }, fetch: { Self.space.fetch($0, $1, $2) })
        #expect(page.contents.isEmpty && !page.isTruncated)
    }

    @Test("random key spaces: paginated walks equal one big page", arguments: 0..<20)
    func randomized(seed: Int) async throws {
        var rng = SplitMix64(state: UInt64(seed))
        let alphabet = ["a", "b", "/", "é", "-", "Z"]
        let keys = (0..<200).map { _ in (0..<Int.random(in: 1...6, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined() }
        let space = KeySpace(Array(Set(keys)))
        for delimiter in [nil, "/"] as [String?] {
            let whole = try await space.walk(prefix: "", delimiter: delimiter, maxKeys: 1000)
            let paged = try await space.walk(prefix: "", delimiter: delimiter, maxKeys: Int.random(in: 1...7, using: &rng))
            #expect(whole.0 == paged.0)
            #expect(whole.1 == paged.1)
        }
    }
}
