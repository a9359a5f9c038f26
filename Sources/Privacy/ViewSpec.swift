/// A project's view of a dataset (DESIGN.md §7), as `view set` stores it: the source format,
/// the patient column, one rule per column kept (columns not named are dropped), row
/// predicates and aggregates. Parsed from YAML by `ViewSpec.parse`.
public struct ViewSpec: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable, CaseIterable {
        case csv, jsonl
    }

    /// Linkability of pseudonyms: the same in every dataset of the project, or only within
    /// this dataset (R1461-7: one pseudonym per database and controller, if the purpose says so).
    public enum Scope: String, Sendable, Equatable, CaseIterable {
        case project, dataset
    }

    public var format: Format
    public var separator: UInt8
    public var dateLayout: CalendarDate.Layout
    public var patient: String
    public var patientNormalisation: [Normalisation]
    public var scope: Scope
    public var columns: [(name: String, rule: ColumnRule)]
    public var predicates: [Predicate]
    public var aggregates: [AggregateSpec]

    public init(
        format: Format, separator: UInt8 = UInt8(ascii: ","), dateLayout: CalendarDate.Layout = .iso, patient: String,
        patientNormalisation: [Normalisation] = [.stripSpaces, .upper], scope: Scope = .project,
        columns: [(name: String, rule: ColumnRule)], predicates: [Predicate] = [], aggregates: [AggregateSpec] = []
    ) {
        self.format = format
        self.separator = separator
        self.dateLayout = dateLayout
        self.patient = patient
        self.patientNormalisation = patientNormalisation
        self.scope = scope
        self.columns = columns
        self.predicates = predicates
        self.aggregates = aggregates
    }

    /// The columns a served row has, in order.
    public var outputColumns: [String] { columns.filter { $0.rule != .drop }.map(\.name) }

    /// Every source column the view reads.
    public var sourceColumns: [String] {
        var seen = Set<String>()
        return ([patient] + columns.filter { $0.rule != .drop }.map(\.name) + predicates.map(\.column) + aggregates.flatMap(\.sourceColumns))
            .filter { seen.insert($0).inserted }
    }

    /// The position of each source column in the rows a `RowReader` of `sourceColumns` gives.
    public var sourceIndex: [String: Int] {
        Dictionary(uniqueKeysWithValues: sourceColumns.enumerated().map { ($1, $0) })
    }

    public static func == (a: ViewSpec, b: ViewSpec) -> Bool {
        a.format == b.format && a.separator == b.separator && a.dateLayout == b.dateLayout && a.patient == b.patient
            && a.patientNormalisation == b.patientNormalisation && a.scope == b.scope
            && a.columns.map(\.name) == b.columns.map(\.name) && a.columns.map(\.rule) == b.columns.map(\.rule)
            && a.predicates == b.predicates && a.aggregates == b.aggregates
    }
}

/// Steps applied, in order, to an identifier before it is hashed.
public enum Normalisation: String, Sendable, Equatable, CaseIterable {
    case trim
    case stripSpaces = "strip_spaces"
    case digits
    case alnum
    case upper
    case lower

    public static func apply(_ steps: [Normalisation], to s: String) -> String {
        if s.utf8.allSatisfy({ $0 < 0x80 }) { return applyASCII(steps, to: s) }
        return steps.reduce(s) { v, step in
            switch step {
            case .trim: String(v.trimmingPrefix(while: \.isWhitespace).reversed().trimmingPrefix(while: \.isWhitespace).reversed())
            case .stripSpaces: String(v.filter { !$0.isWhitespace })
            case .digits: String(v.filter { $0.isASCII && $0.isNumber })
            case .alnum: String(v.filter { $0.isLetter || $0.isNumber })
            case .upper: v.uppercased()
            case .lower: v.lowercased()
            }
        }
    }

    /// The same steps on ASCII text, byte by byte (identifiers are ASCII; Unicode's whitespace
    /// and case tables agree with these on ASCII).
    static func applyASCII(_ steps: [Normalisation], to s: String) -> String {
        var b = Array(s.utf8)
        func space(_ c: UInt8) -> Bool { c == 0x20 || (0x09...0x0D).contains(c) }
        for step in steps {
            switch step {
            case .trim:
                let start = b.firstIndex { !space($0) } ?? b.count
                let end = b.lastIndex { !space($0) }.map { $0 + 1 } ?? start
                b = Array(b[start..<max(start, end)])
            case .stripSpaces: b.removeAll(where: space)
            case .digits: b.removeAll { !(0x30...0x39).contains($0) }
            case .alnum: b.removeAll { !((0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)) }
            case .upper: for i in b.indices where (0x61...0x7A).contains(b[i]) { b[i] -= 0x20 }
            case .lower: for i in b.indices where (0x41...0x5A).contains(b[i]) { b[i] += 0x20 }
            }
        }
        return String(decoding: b, as: UTF8.self)
    }
}

public enum DatePart: String, Sendable, Equatable, CaseIterable {
    case year, quarter, month, isoweek
}

/// One column's rule.
public enum ColumnRule: Sendable, Equatable {
    case keep
    case drop
    /// HMAC-SHA-256 pseudonym of the normalised value.
    case pseudonym(normalise: [Normalisation])
    case date(DatePart)
    /// Numbers into bands `[edges[i], edges[i+1])`; below the first edge and from the last
    /// one on, bottom and top coded.
    case bands([Double])
    /// A French postcode to its département.
    case departement
    case prefix(Int)
    /// Dates moved by the patient's offset, within ±`maxDays`.
    case shift(maxDays: Int)
}

/// A row predicate, on the source value: rows that fail it are not served.
public struct Predicate: Sendable, Equatable {
    public enum Op: String, Sendable, Equatable, CaseIterable {
        case eq = "=", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", `in` = "in"
    }

    public var column: String
    public var op: Op
    public var values: [String]

    public init(column: String, op: Op, values: [String]) {
        self.column = column
        self.op = op
        self.values = values
    }
}
