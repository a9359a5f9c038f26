import Foundation

/// The outcome of comparing a dataset's two placements object by object.
public struct VerificationReport: Sendable, Equatable, Codable {
    public enum Category: String, Sendable, Codable, CaseIterable {
        /// On both sides, same size and same plaintext checksum.
        case identical
        /// In the catalog (and on the source) but not on the target.
        case missing
        /// On both sides, but size or checksum differ (or the target copy fails to open).
        case different
        /// On the target, but no object of the dataset is it.
        case extra
        /// No checksum could be established for the source's copy: never counted as identical.
        case unverifiable
    }

    public struct Tally: Sendable, Equatable, Codable {
        public var objects = 0
        public var bytes: Int64 = 0
        /// The first keys (or backend names, for `extra`) found, with why.
        public var examples: [String] = []
    }

    public static let maxExamples = 20

    public var dataset: String
    public var source: String
    public var target: String
    /// `full` (both sides read and hashed) or `checksums` (stored checksums compared).
    public var mode: String
    public var started: Date
    public var finished: Date?
    public var tallies: [String: Tally]

    public init(dataset: String, source: String, target: String, mode: String, started: Date) {
        self.dataset = dataset
        self.source = source
        self.target = target
        self.mode = mode
        self.started = started
        tallies = Dictionary(uniqueKeysWithValues: Category.allCases.map { ($0.rawValue, Tally()) })
    }

    public mutating func add(_ category: Category, bytes: Int64, example: @autoclosure () -> String) {
        var t = tallies[category.rawValue] ?? Tally()
        t.objects += 1
        t.bytes += bytes
        if category != .identical, t.examples.count < Self.maxExamples { t.examples.append(example()) }
        tallies[category.rawValue] = t
    }

    public subscript(_ c: Category) -> Tally { tallies[c.rawValue] ?? Tally() }

    /// Every object identical, nothing extra, nothing unverifiable.
    public var clean: Bool {
        Category.allCases.allSatisfy { $0 == .identical || self[$0].objects == 0 }
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return try e.encode(self)
    }

    public static func decode(_ data: Data) throws -> VerificationReport {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try d.decode(VerificationReport.self, from: data)
    }

    /// For people: one line per category, then the examples.
    public var summary: String {
        var lines = [
            "verification of \(dataset) (\(mode)): \(clean ? "CLEAN" : "NOT CLEAN")",
            "  source: \(source)", "  target: \(target)",
        ]
        for c in Category.allCases {
            let t = self[c]
            lines.append(
                "  \(c.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(t.objects).leftPadded(9)) objects "
                    + "\(ByteCount.format(t.bytes).leftPadded(11))"
            )
        }
        for c in Category.allCases where c != .identical {
            for e in self[c].examples { lines.append("  \(c.rawValue): \(e)") }
        }
        if let finished { lines.append("  took \(String(format: "%.1f", finished.timeIntervalSince(started))) s") }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// Byte counts and rates as people write them: `50MiB`, `1.5 GB`, `200k`.
public enum ByteCount {
    public static func parse(_ text: String) -> Int64? {
        var s = text.trimmingCharacters(in: .whitespaces).lowercased()
        if s.hasSuffix("/s") { s.removeLast(2) }
        let units: [(String, Double)] = [
            ("kib", 1024), ("mib", 1_048_576), ("gib", 1_073_741_824), ("tib", 1_099_511_627_776),
            ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12),
            ("k", 1024), ("m", 1_048_576), ("g", 1_073_741_824), ("t", 1_099_511_627_776), ("b", 1),
        ]
        var factor = 1.0
        for (suffix, f) in units where s.hasSuffix(suffix) {
            factor = f
            s.removeLast(suffix.count)
            break
        }
        guard let n = Double(s.trimmingCharacters(in: .whitespaces)), n >= 0, n.isFinite, n * factor < 9e18 else { return nil }
        return Int64(n * factor)
    }

    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes), i = 0
        while v >= 1024, i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(bytes) B" : String(format: "%.1f %@", v, units[i])
    }
}
