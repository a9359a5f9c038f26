/// A view bound to the columns of one source file: turns each source row into the row served
/// (or nil: removed by the opt-out registry or a predicate), counting what it did. Pure; the
/// keys and the registry are inputs.
public struct ViewTransform: Sendable {
    public struct Counts: Sendable, Equatable {
        public var read = 0
        public var served = 0
        public var optedOut = 0
        public var filtered = 0
    }

    enum Step: Sendable {
        case copy(Int)
        case apply(Int, ColumnRule, String)
        /// The patient column's pseudonym, from the identifier normalised once per row.
        case patientPseudonym(Int)
    }

    let spec: ViewSpec
    let keys: PseudonymKeys
    let optOut: OptOutFilter
    let patientIndex: Int
    /// The patient's normalised form is the registry's (the default normalisation).
    let patientCanonical: Bool
    let steps: [Step]
    let predicates: [(Int, Predicate)]
    public internal(set) var counts = Counts()

    /// Rows are the view's `sourceColumns`, as a `RowReader` of them gives (which checks that
    /// the file has them).
    public init(spec: ViewSpec, keys: PseudonymKeys, optOut: OptOutFilter) {
        let index = spec.sourceIndex
        // Every column the view reads is a source column, by construction of `sourceColumns`.
        func position(_ name: String) -> Int { index[name] ?? 0 }
        self.spec = spec
        self.keys = keys
        self.optOut = optOut
        patientIndex = position(spec.patient)
        let patientIndex = patientIndex
        steps = spec.columns.filter { $0.rule != .drop }.map { c in
            let i = position(c.name)
            if i == patientIndex, c.rule == .pseudonym(normalise: spec.patientNormalisation) { return .patientPseudonym(i) }
            return c.rule == .keep ? .copy(i) : .apply(i, c.rule, c.name)
        }
        patientCanonical = spec.patientNormalisation == OptOutFilter.canonical
        predicates = spec.predicates.map { (position($0.column), $0) }
    }

    /// Whether the row is served (not opted out, and its predicates hold), and its patient
    /// normalised; counts it.
    public mutating func admit(_ row: [Value]) -> (patient: String?, served: Bool) {
        counts.read += 1
        let patient = row[patientIndex].scalar.map { Normalisation.apply(spec.patientNormalisation, to: $0) }
        // The registry is not configurable: a patient who objected is never served.
        if let patient, !patient.isEmpty, optOut.contains(patient, canonical: patientCanonical) {
            counts.optedOut += 1
            return (patient, false)
        }
        for (i, p) in predicates where !Self.holds(p, row[i]) {
            counts.filtered += 1
            return (patient, false)
        }
        counts.served += 1
        return (patient, true)
    }

    public mutating func apply(_ row: [Value], line: Int) throws -> [Value]? {
        let (patient, served) = admit(row)
        guard served else { return nil }
        var out: [Value] = []
        out.reserveCapacity(steps.count)
        for step in steps {
            switch step {
            case .copy(let i): out.append(row[i])
            case .apply(let i, let rule, let name): out.append(try value(rule, row[i], patient: patient, line: line, column: name))
            case .patientPseudonym(let i): out.append(row[i].scalar == nil ? row[i] : .text(keys.pseudonym(of: patient ?? "")))
            }
        }
        return out
    }

    func value(_ rule: ColumnRule, _ v: Value, patient: String?, line: Int, column: String) throws -> Value {
        guard let s = v.scalar else { return v }
        switch rule {
        case .keep, .drop:
            return v
        case .pseudonym(let steps):
            return .text(keys.pseudonym(of: Normalisation.apply(steps, to: s)))
        case .date(let part):
            guard let g = Generalisation.date(s, part: part, layout: spec.dateLayout) else { throw unreadable(s, column, "a date", line) }
            return .text(g)
        case .bands(let edges):
            guard let g = Generalisation.band(s, edges: edges) else { throw unreadable(s, column, "a number", line) }
            return .text(g)
        case .departement:
            guard let g = Generalisation.departement(s) else { throw unreadable(s, column, "a French postcode", line) }
            return .text(g)
        case .prefix(let n):
            return .text(Generalisation.prefix(s, length: n))
        case .shift(let maxDays):
            guard let (d, suffix) = CalendarDate.parse(s, layout: spec.dateLayout) else { throw unreadable(s, column, "a date", line) }
            // No patient, no offset to derive: the date is withheld rather than served unshifted.
            guard let patient, !patient.isEmpty else { return .null }
            let days = keys.shiftDays(patient: patient, maxDays: maxDays)
            guard let moved = CalendarDate(dayNumber: d.dayNumber + days) else { throw unreadable(s, column, "a date", line) }
            return .text(moved.formatted(spec.dateLayout) + suffix)
        }
    }

    /// The error names the line and what was expected, never the value (it may identify).
    func unreadable(_ value: String, _ column: String, _ what: String, _ line: Int) -> PrivacyError {
        PrivacyError(line: line, "column \"\(column)\": a value of \(value.count) characters is not \(what)")
    }

    /// Numbers compare as numbers when both sides are numbers, otherwise as text (ISO dates
    /// compare correctly as text).
    static func holds(_ p: Predicate, _ v: Value) -> Bool {
        guard let s = v.scalar else { return p.op == .ne }
        func compare(_ other: String) -> Int {
            if let a = Double(s), let b = Double(other) { return a < b ? -1 : (a > b ? 1 : 0) }
            return s < other ? -1 : (s > other ? 1 : 0)
        }
        switch p.op {
        case .eq: return compare(p.values[0]) == 0
        case .ne: return compare(p.values[0]) != 0
        case .lt: return compare(p.values[0]) < 0
        case .le: return compare(p.values[0]) <= 0
        case .gt: return compare(p.values[0]) > 0
        case .ge: return compare(p.values[0]) >= 0
        case .in: return p.values.contains { compare($0) == 0 }
        }
    }
}
