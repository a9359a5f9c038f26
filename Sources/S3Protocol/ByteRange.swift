/// A satisfiable byte range of an object, `start...end` inclusive (RFC 9110 §14.1.2).
public struct ByteRange: Sendable, Equatable {
    public var start: Int64
    public var end: Int64
    public var length: Int64 { end - start + 1 }

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public enum ParseResult: Sendable, Equatable {
        /// No usable range: serve the whole object with 200 (S3 ignores malformed and multi-ranges).
        case whole
        case partial(ByteRange)
        /// Syntactically valid but outside the object: 416 InvalidRange.
        case unsatisfiable
    }

    /// Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` against an object of `size` bytes.
    public static func parse(_ header: String, size: Int64) -> ParseResult {
        let h = header.trimmingSpaces()
        guard h.hasPrefix("bytes=") else { return .whole }
        let spec = h.dropFirst("bytes=".count)
        guard !spec.contains(",") else { return .whole }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .whole }
        let a = parts[0].trimmingSpaces(), b = parts[1].trimmingSpaces()
        func num(_ s: String) -> Int64? {
            guard !s.isEmpty, s.utf8.count <= 19, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return Int64(s)
        }
        if a.isEmpty {
            guard let n = num(b) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .partial(ByteRange(start: max(0, size - n), end: size - 1))
        }
        guard let first = num(a) else { return .whole }
        if b.isEmpty {
            guard first < size else { return .unsatisfiable }
            return .partial(ByteRange(start: first, end: size - 1))
        }
        guard let last = num(b), last >= first else { return .whole }
        guard first < size else { return .unsatisfiable }
        return .partial(ByteRange(start: first, end: min(last, size - 1)))
    }
}

extension Substring {
    func trimmingSpaces() -> String { String(self).trimmingSpaces() }
}
