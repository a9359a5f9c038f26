/// An aggregate a view publishes (docs/privacy.md): counts and sums of the view's rows grouped
/// by generalised columns, with margins, under statistical disclosure control.
public struct AggregateSpec: Sendable, Equatable {
    public enum Measure: Sendable, Equatable {
        case patients, rows
        case sum(String)
        case mean(String)

        public var name: String {
            switch self {
            case .patients: "patients"
            case .rows: "rows"
            case .sum(let c): "sum_\(c)"
            case .mean(let c): "mean_\(c)"
            }
        }
    }

    public var name: String
    /// Group-by columns with the rule that generalises them (`keep` or a generalisation).
    public var groupBy: [(name: String, rule: ColumnRule)]
    public var measures: [Measure]
    /// Cells of 1 … minCell−1 distinct patients are masked (primary suppression).
    public var minCell: Int
    /// Shown counts rounded to a multiple of this (nil: exact).
    public var rounding: Int?
    /// Whether a count of 0 is shown (true) or masked like a small one.
    public var showZeros: Bool
    public var margins: Bool

    public init(
        name: String, groupBy: [(name: String, rule: ColumnRule)], measures: [Measure], minCell: Int = 11, rounding: Int? = nil,
        showZeros: Bool = true, margins: Bool = true
    ) {
        self.name = name
        self.groupBy = groupBy
        self.measures = measures
        self.minCell = minCell
        self.rounding = rounding
        self.showZeros = showZeros
        self.margins = margins
    }

    public var sourceColumns: [String] {
        groupBy.map(\.name)
            + measures.compactMap {
                switch $0 {
                case .sum(let c), .mean(let c): c
                default: nil
                }
            }
    }

    public static func == (a: AggregateSpec, b: AggregateSpec) -> Bool {
        a.name == b.name && a.groupBy.map(\.name) == b.groupBy.map(\.name) && a.groupBy.map(\.rule) == b.groupBy.map(\.rule)
            && a.measures == b.measures && a.minCell == b.minCell && a.rounding == b.rounding && a.showZeros == b.showZeros
            && a.margins == b.margins
    }
}

/// The totals of one cell.
struct CellTotals: Sendable {
    var patients = Set<Int>()
    var rows = 0
    var sums: [Double]
    var counted: [Int]

    init(measures: Int) {
        sums = Array(repeating: 0, count: measures)
        counted = Array(repeating: 0, count: measures)
    }
}

/// One published table: every combination of the group-by values seen (empty cells included,
/// with 0), and with margins every total where one or more dimensions are `*`.
public struct AggregateTable: Sendable {
    public static let total = "*"
    public let spec: AggregateSpec
    /// Per dimension, the values seen, sorted.
    public let values: [[String]]
    var cells: [[String]: CellTotals]

    /// The distinct patients of a cell (0 for a combination never seen).
    public func patients(_ key: [String]) -> Int { cells[key]?.patients.count ?? 0 }

    /// Every cell of the table, margins included, in a stable order.
    public var keys: [[String]] {
        var out: [[String]] = [[]]
        for dim in values {
            let options = dim + (spec.margins ? [Self.total] : [])
            out = out.flatMap { prefix in options.map { prefix + [$0] } }
        }
        return out
    }
}

/// Accumulates the rows a view serves into its aggregates' cells. Pure; the patient of a row
/// is counted by its normalised identifier (never written out).
public struct AggregateBuilder: Sendable {
    let spec: AggregateSpec
    let dateLayout: CalendarDate.Layout
    var cells: [[String]: CellTotals] = [:]
    var seen: [Set<String>]

    public init(spec: AggregateSpec, dateLayout: CalendarDate.Layout) {
        self.spec = spec
        self.dateLayout = dateLayout
        seen = Array(repeating: [], count: spec.groupBy.count)
    }

    /// `groups` and `measures` are the row's source values of `spec.groupBy` and of the
    /// measures' columns, in order.
    public mutating func add(patient: String?, groups: [Value], measures: [Value], line: Int) throws {
        var key: [String] = []
        for (i, (g, v)) in zip(spec.groupBy, groups).enumerated() {
            let shown = try Self.generalise(v, g.rule, column: g.name, layout: dateLayout, line: line)
            seen[i].insert(shown)
            key.append(shown)
        }
        var numbers: [Double?] = []
        var m = 0
        for measure in spec.measures {
            switch measure {
            case .sum(let c), .mean(let c):
                if let s = measures[m].scalar {
                    guard let d = Double(s), d.isFinite else {
                        throw PrivacyError(line: line, "column \"\(c)\": a value of \(s.count) characters is not a number")
                    }
                    numbers.append(d)
                } else {
                    numbers.append(nil)
                }
                m += 1
            default: numbers.append(nil)
            }
        }
        // The row counts in its cell and, with margins, in every total over it.
        let dims = key.count
        for mask in 0..<(spec.margins ? 1 << dims : 1) {
            var k = key
            for d in 0..<dims where mask & (1 << d) != 0 { k[d] = AggregateTable.total }
            var t = cells[k] ?? CellTotals(measures: spec.measures.count)
            if let patient, !patient.isEmpty { t.patients.insert(patient.hashValue) }
            t.rows += 1
            for (i, n) in numbers.enumerated() {
                if let n {
                    t.sums[i] += n
                    t.counted[i] += 1
                }
            }
            cells[k] = t
        }
    }

    static func generalise(_ v: Value, _ rule: ColumnRule, column: String, layout: CalendarDate.Layout, line: Int) throws -> String {
        guard let s = v.scalar else { return "" }
        func fail(_ what: String) -> PrivacyError {
            PrivacyError(line: line, "column \"\(column)\": a value of \(s.count) characters is not \(what)")
        }
        switch rule {
        case .date(let p):
            guard let g = Generalisation.date(s, part: p, layout: layout) else { throw fail("a date") }
            return g
        case .bands(let e):
            guard let g = Generalisation.band(s, edges: e) else { throw fail("a number") }
            return g
        case .departement:
            guard let g = Generalisation.departement(s) else { throw fail("a French postcode") }
            return g
        case .prefix(let n): return Generalisation.prefix(s, length: n)
        default: return s
        }
    }

    public var table: AggregateTable {
        AggregateTable(spec: spec, values: seen.map { $0.sorted() }, cells: cells)
    }
}
