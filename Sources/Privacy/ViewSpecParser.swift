import Yams

/// Reads a view file (YAML, documented in `docs/privacy.md`). Every error names the line of
/// the problem; unknown fields are errors (a misspelt rule must not silently keep a column).
extension ViewSpec {
    public static let maxFileBytes = 256 << 10

    public static func parse(_ text: String) throws -> ViewSpec {
        guard text.utf8.count <= maxFileBytes else { throw PrivacyError("view file larger than \(maxFileBytes >> 10) KiB") }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw PrivacyError(line: Self.line(of: e), "not valid YAML")
        }
        guard let root, let top = root.mapping else { throw PrivacyError(line: 1, "a view file is a YAML mapping") }
        let r = ViewReader()
        try r.allow(top, ["format", "separator", "dates", "patient", "normalise", "scope", "columns", "where", "aggregates"])
        let format: Format = try r.choice(top["format"], "format", required: true) ?? .csv
        var spec = ViewSpec(format: format, patient: try r.string(top["patient"], "patient", required: true) ?? "", columns: [])
        if let s = top["separator"] {
            guard format == .csv else { throw PrivacyError(line: r.line(s), "separator is for csv files") }
            switch try r.string(s, "separator") {
            case ",": spec.separator = UInt8(ascii: ",")
            case ";": spec.separator = UInt8(ascii: ";")
            case "\t", "tab": spec.separator = 9
            default: throw PrivacyError(line: r.line(s), "separator must be \",\", \";\" or tab")
            }
        }
        spec.dateLayout = try r.choice(top["dates"], "dates") ?? .iso
        spec.scope = try r.choice(top["scope"], "scope") ?? .project
        if let n = top["normalise"] { spec.patientNormalisation = try r.normalisation(n) }
        guard let columns = top["columns"]?.mapping, !columns.isEmpty else {
            throw PrivacyError(line: r.line(top["columns"] ?? root), "columns: a mapping of column names to rules is required")
        }
        var names = Set<String>()
        for (k, v) in columns {
            let name = try r.string(k, "column name") ?? ""
            guard names.insert(name).inserted else { throw PrivacyError(line: r.line(k), "column \"\(name)\" named twice") }
            spec.columns.append((name, try r.rule(v, patientNormalisation: spec.patientNormalisation)))
        }
        guard spec.columns.contains(where: { $0.rule != .drop }) else {
            throw PrivacyError(line: r.line(top["columns"] ?? root), "the view serves no column")
        }
        if let patientRule = spec.columns.first(where: { $0.name == spec.patient })?.rule, patientRule != .drop {
            guard case .pseudonym = patientRule else {
                throw PrivacyError(line: r.line(top["patient"] ?? root), "the patient column can only be pseudonymised or dropped")
            }
        }
        if let w = top["where"] {
            guard let seq = w.sequence else { throw PrivacyError(line: r.line(w), "where: a list of predicates") }
            spec.predicates = try seq.map { try r.predicate($0) }
        }
        if let a = top["aggregates"] {
            guard let seq = a.sequence else { throw PrivacyError(line: r.line(a), "aggregates: a list") }
            var names = Set<String>()
            for node in seq {
                let agg = try r.aggregate(node)
                guard names.insert(agg.name).inserted else { throw PrivacyError(line: r.line(node), "aggregate \"\(agg.name)\" named twice") }
                spec.aggregates.append(agg)
            }
        }
        return spec
    }

    static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let m, _), .parser(_, _, let m, _), .composer(_, _, let m, _): m.line
        default: nil
        }
    }
}

/// The field readers of the view file, each failing with the node's line.
struct ViewReader {
    func line(_ n: Node) -> Int? { n.mark?.line }

    func allow(_ m: Node.Mapping, _ fields: Set<String>) throws {
        for (k, _) in m where !fields.contains(k.string ?? "") {
            throw PrivacyError(line: line(k), "unknown field \"\(k.string ?? "?")\" (expected one of \(fields.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ n: Node?, _ what: String, required: Bool = false) throws -> String? {
        guard let n else {
            if required { throw PrivacyError(line: 1, "\(what) is required") }
            return nil
        }
        guard let s = n.scalar?.string, !s.isEmpty else { throw PrivacyError(line: line(n), "\(what) must be a non-empty string") }
        return s
    }

    func choice<T: RawRepresentable & CaseIterable>(_ n: Node?, _ what: String, required: Bool = false) throws -> T? where T.RawValue == String {
        guard let s = try string(n, what, required: required) else { return nil }
        guard let v = T(rawValue: s) else {
            throw PrivacyError(line: n.flatMap { line($0) }, "\(what) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    func int(_ n: Node, _ what: String, in range: ClosedRange<Int>) throws -> Int {
        guard let s = n.scalar?.string, let v = Int(s), range.contains(v) else {
            throw PrivacyError(line: line(n), "\(what) must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return v
    }

    func number(_ n: Node, _ what: String) throws -> Double {
        guard let s = n.scalar?.string, let v = Double(s), v.isFinite else { throw PrivacyError(line: line(n), "\(what) must be a number") }
        return v
    }

    func normalisation(_ n: Node) throws -> [Normalisation] {
        guard let seq = n.sequence else { throw PrivacyError(line: line(n), "normalise: a list of steps") }
        return try seq.map { s in try choice(s, "a normalisation step") ?? .trim }
    }

    /// `keep`, `drop`, `pseudonym`, `departement`, or a one-field mapping:
    /// `{pseudonym: {normalise: […]}}`, `{generalise: year|quarter|month|isoweek}`,
    /// `{bands: [edges…]}` or `{bands: {width, min, max}}`, `{prefix: N}`, `{shift: N}`.
    func rule(_ n: Node, patientNormalisation: [Normalisation]) throws -> ColumnRule {
        if let s = n.scalar?.string {
            switch s {
            case "keep": return .keep
            case "drop": return .drop
            case "pseudonym": return .pseudonym(normalise: patientNormalisation)
            case "departement": return .departement
            default: throw PrivacyError(line: line(n), "unknown rule \"\(s)\" (keep, drop, pseudonym, departement, generalise, bands, prefix, shift)")
            }
        }
        guard let m = n.mapping, m.count == 1, let (k, v) = m.first, let name = k.string else {
            throw PrivacyError(line: line(n), "a rule is a word or a mapping with one field")
        }
        switch name {
        case "pseudonym":
            guard let o = v.mapping else { throw PrivacyError(line: line(v), "pseudonym: {normalise: [...]}") }
            try allow(o, ["normalise"])
            return .pseudonym(normalise: try o["normalise"].map(normalisation) ?? patientNormalisation)
        case "generalise":
            return .date(try choice(v, "generalise") ?? .year)
        case "bands":
            if let seq = v.sequence {
                let edges = try seq.map { try number($0, "a band edge") }
                guard edges.count >= 2, zip(edges, edges.dropFirst()).allSatisfy({ $0 < $1 }) else {
                    throw PrivacyError(line: line(v), "bands: at least two increasing edges")
                }
                return .bands(edges)
            }
            guard let o = v.mapping else { throw PrivacyError(line: line(v), "bands: a list of edges or {width, min, max}") }
            try allow(o, ["width", "min", "max"])
            guard let w = o["width"], let lo = o["min"], let hi = o["max"] else {
                throw PrivacyError(line: line(v), "bands: width, min and max are required")
            }
            guard let edges = Generalisation.edges(width: try number(w, "width"), min: try number(lo, "min"), max: try number(hi, "max")) else {
                throw PrivacyError(line: line(v), "bands: width > 0, min < max, at most 10000 bands")
            }
            return .bands(edges)
        case "prefix":
            return .prefix(try int(v, "prefix", in: 1...1000))
        case "shift":
            return .shift(maxDays: try int(v, "shift (days)", in: 1...3650))
        default:
            throw PrivacyError(line: line(k), "unknown rule \"\(name)\"")
        }
    }

    /// `{column, op, value}` or `{column, op: in, values: [...]}`.
    func predicate(_ n: Node) throws -> Predicate {
        guard let m = n.mapping else { throw PrivacyError(line: line(n), "a predicate is {column, op, value}") }
        try allow(m, ["column", "op", "value", "values"])
        let column = try string(m["column"], "column") ?? ""
        guard !column.isEmpty else { throw PrivacyError(line: line(n), "a predicate needs a column") }
        let op: Predicate.Op = try choice(m["op"], "op") ?? .eq
        guard m["op"] != nil else { throw PrivacyError(line: line(n), "a predicate needs an op") }
        if op == .in {
            guard let seq = m["values"]?.sequence, !seq.isEmpty else { throw PrivacyError(line: line(n), "op in needs values: [...]") }
            return Predicate(column: column, op: op, values: try seq.map { try string($0, "a value") ?? "" })
        }
        guard let v = m["value"], let s = v.scalar?.string else { throw PrivacyError(line: line(n), "op \(op.rawValue) needs a value") }
        return Predicate(column: column, op: op, values: [s])
    }

    /// `{name, group_by: {column: rule…}, measures: [patients | rows | {sum: c} | {mean: c}],
    /// suppression: dgfip | insee | nhs, min_cell, round, zeros: shown | masked, margins}`.
    func aggregate(_ n: Node) throws -> AggregateSpec {
        guard let m = n.mapping else { throw PrivacyError(line: line(n), "an aggregate is a mapping") }
        try allow(m, ["name", "group_by", "measures", "suppression", "min_cell", "round", "zeros", "margins"])
        let name = try string(m["name"], "name") ?? ""
        guard !name.isEmpty, name.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2D }) else {
            throw PrivacyError(line: line(m["name"] ?? n), "an aggregate needs a name of a-z, 0-9, _ and -")
        }
        guard let g = m["group_by"]?.mapping, !g.isEmpty else { throw PrivacyError(line: line(n), "group_by: a mapping of columns to rules") }
        var groupBy: [(name: String, rule: ColumnRule)] = []
        for (k, v) in g {
            let column = try string(k, "column name") ?? ""
            let rule = try rule(v, patientNormalisation: [])
            switch rule {
            case .pseudonym, .shift, .drop: throw PrivacyError(line: line(v), "a group-by column is kept or generalised")
            default: groupBy.append((column, rule))
            }
        }
        guard groupBy.count <= 4 else { throw PrivacyError(line: line(n), "at most 4 group-by columns") }
        guard let ms = m["measures"]?.sequence, !ms.isEmpty else { throw PrivacyError(line: line(n), "measures: a list") }
        let measures: [AggregateSpec.Measure] = try ms.map { x in
            if let w = x.scalar?.string {
                switch w {
                case "patients": return .patients
                case "rows": return .rows
                default: throw PrivacyError(line: line(x), "a measure is patients, rows, {sum: column} or {mean: column}")
                }
            }
            guard let o = x.mapping, o.count == 1, let (k, v) = o.first, let col = v.scalar?.string, !col.isEmpty else {
                throw PrivacyError(line: line(x), "a measure is patients, rows, {sum: column} or {mean: column}")
            }
            switch k.string {
            case "sum": return .sum(col)
            case "mean": return .mean(col)
            default: throw PrivacyError(line: line(k), "a measure is patients, rows, {sum: column} or {mean: column}")
            }
        }
        var spec = AggregateSpec(name: name, groupBy: groupBy, measures: measures)
        if let s = m["suppression"] {
            switch try string(s, "suppression") {
            case "dgfip": spec.minCell = 11
            case "insee": spec.minCell = 3
            case "nhs":
                spec.minCell = 8
                spec.rounding = 5
            default:
                throw PrivacyError(line: line(s), "suppression must be dgfip (counts 1-10 masked), insee (1-2) or nhs (1-7, others rounded to 5)")
            }
        }
        if let v = m["min_cell"] { spec.minCell = try int(v, "min_cell", in: 1...1_000_000) }
        if let v = m["round"] { spec.rounding = try int(v, "round", in: 1...1000) }
        if let v = m["zeros"] {
            switch try string(v, "zeros") {
            case "shown": spec.showZeros = true
            case "masked": spec.showZeros = false
            default: throw PrivacyError(line: line(v), "zeros must be shown or masked")
            }
        }
        if let v = m["margins"] {
            guard let b = v.scalar?.string, ["true", "false"].contains(b) else { throw PrivacyError(line: line(v), "margins must be true or false") }
            spec.margins = b == "true"
        }
        return spec
    }
}
