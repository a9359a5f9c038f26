/// Prefix/delimiter listing over a sorted key space (S3 ListObjects semantics), independent of
/// storage: `fetch(from, until, limit)` returns keys `from <= key < until` in byte order.
public struct ListingPage<Item: Sendable>: Sendable {
    public var contents: [Item] = []
    public var commonPrefixes: [String] = []
    public var isTruncated = false
    /// The lower bound to resume from (a V2 continuation token encodes it).
    public var resumeFrom: [UInt8]?
    /// The last key or common prefix returned (V1 `NextMarker`).
    public var lastReturned: String?
}

public enum Listing {
    /// Smallest byte string greater than every string that starts with `prefix`; nil if none
    /// (prefix empty or all 0xFF).
    public static func upperBound(ofPrefix prefix: [UInt8]) -> [UInt8]? {
        var p = prefix
        while let last = p.last {
            if last < 0xFF {
                p[p.count - 1] = last + 1
                return p
            }
            p.removeLast()
        }
        return nil
    }

    /// - Parameters:
    ///   - from: inclusive lower bound (derived from marker / start-after / continuation token)
    ///   - skipPrefixesUpTo: V1 marker semantics: common prefixes `<=` this are not returned again.
    public static func page<Item: Sendable>(
        prefix: String, delimiter: String?, from: [UInt8], skipPrefixesUpTo: String?, maxKeys: Int,
        key: (Item) -> String,
        fetch: ([UInt8], [UInt8]?, Int) async throws -> [Item]
    ) async throws -> ListingPage<Item> {
        try await page(
            prefix: prefix, delimiter: delimiter, start: from, skipPrefixesUpTo: skipPrefixesUpTo, maxKeys: maxKeys, key: key,
            cursorKey: { $0 }, at: { $0 }, after: { Array(key($0).utf8) + [0] }, fetch: fetch)
    }

    /// The same over any cursor: `fetch(cursor, until, limit)` returns the items from `cursor`
    /// on; `after(item)` is the cursor past an item, `at(bytes)` the cursor at the first item
    /// of a key, `cursorKey` the key a cursor is at (several items may share a key: versions).
    public static func page<Item: Sendable, Cursor>(
        prefix: String, delimiter: String?, start: Cursor, skipPrefixesUpTo: String?, maxKeys: Int,
        key: (Item) -> String, cursorKey: (Cursor) -> [UInt8], at: ([UInt8]) -> Cursor, after: (Item) -> Cursor,
        fetch: (Cursor, [UInt8]?, Int) async throws -> [Item]
    ) async throws -> ListingPage<Item> {
        var page = ListingPage<Item>()
        guard maxKeys > 0 else {
            // S3 answers max-keys=0 with an empty, untruncated page.
            return page
        }
        let prefixBytes = Array(prefix.utf8)
        let until = upperBound(ofPrefix: prefixBytes)
        var cursor = cursorKey(start).lexicographicallyPrecedes(prefixBytes) ? at(prefixBytes) : start
        // One more than a page: a full page then knows whether it is truncated without a second fetch.
        let batch = min(1001, maxKeys + 1)
        var count = 0
        let delimiter = (delimiter?.isEmpty ?? true) ? nil : delimiter
        while true {
            let items = try await fetch(cursor, until, batch)
            var rolledUp = false
            for item in items {
                let k = key(item)
                let kb = Array(k.utf8)
                if let delimiter, let cp = commonPrefix(of: k, prefix: prefix, delimiter: delimiter) {
                    let cpb = Array(cp.utf8)
                    let next = upperBound(ofPrefix: cpb)
                    if let skip = skipPrefixesUpTo, !Array(skip.utf8).lexicographicallyPrecedes(cpb) {
                        // Already returned on an earlier page.
                    } else {
                        if count == maxKeys {
                            page.isTruncated = true
                            page.resumeFrom = cpb
                            return page
                        }
                        page.commonPrefixes.append(cp)
                        page.lastReturned = cp
                        count += 1
                    }
                    guard let next else { return page }
                    cursor = at(next)
                    rolledUp = true
                    break  // re-fetch past the rolled-up keys
                }
                if count == maxKeys {
                    page.isTruncated = true
                    page.resumeFrom = kb
                    return page
                }
                page.contents.append(item)
                page.lastReturned = k
                count += 1
                cursor = after(item)
            }
            if !rolledUp && items.count < batch { return page }
        }
    }

    /// The common prefix a key rolls up into: prefix + everything up to and including the
    /// first delimiter after the prefix; nil if no delimiter follows.
    public static func commonPrefix(of key: String, prefix: String, delimiter: String) -> String? {
        let k = Array(key.utf8), p = prefix.utf8.count, d = Array(delimiter.utf8)
        guard k.count >= p + d.count else { return nil }
        var i = p
        while i + d.count <= k.count {
            if Array(k[i..<(i + d.count)]) == d {
                return String(decoding: k[0..<(i + d.count)], as: UTF8.self)
            }
            i += 1
        }
        return nil
    }
}
