/// A view computed as a stream: source bytes in (any chunking), the served bytes out, in the
/// source's format. The caller keeps the output apart until `finish` succeeds: an error at any
/// row means nothing of the output may be served.
public struct ViewEngine: Sendable {
    let spec: ViewSpec
    var reader: RowReader
    var transform: ViewTransform
    var wroteHeader = false

    public init(spec: ViewSpec, keys: PseudonymKeys, optOut: OptOutFilter) {
        self.spec = spec
        reader = RowReader(format: spec.format, separator: spec.separator, columns: spec.sourceColumns)
        transform = ViewTransform(spec: spec, keys: keys, optOut: optOut)
    }

    public var counts: ViewTransform.Counts { transform.counts }

    public mutating func feed(_ bytes: some Sequence<UInt8>, into out: inout [UInt8]) throws {
        header(&out)
        var r = reader, t = transform
        defer { (reader, transform) = (r, t) }
        let spec = spec
        try r.feed(bytes) { row, line in try Self.write(row, line, spec, &t, &out) }
    }

    public mutating func finish(into out: inout [UInt8]) throws {
        header(&out)
        var r = reader, t = transform
        defer { (reader, transform) = (r, t) }
        let spec = spec
        try r.finish { row, line in try Self.write(row, line, spec, &t, &out) }
    }

    mutating func header(_ out: inout [UInt8]) {
        guard !wroteHeader else { return }
        wroteHeader = true
        if spec.format == .csv { CSVWriter.append(spec.outputColumns, separator: spec.separator, to: &out) }
    }

    static func write(_ row: [Value], _ line: Int, _ spec: ViewSpec, _ transform: inout ViewTransform, _ out: inout [UInt8]) throws {
        guard let served = try transform.apply(row, line: line) else { return }
        switch spec.format {
        case .csv: CSVWriter.append(served, separator: spec.separator, to: &out)
        case .jsonl: JSONLinesWriter.append(zip(spec.outputColumns, served), to: &out)
        }
    }
}

/// A view's aggregates computed as a stream over its source objects (all of them feed one set
/// of tables), then suppressed together.
public struct AggregateEngine: Sendable {
    let spec: ViewSpec
    var transform: ViewTransform
    var builders: [AggregateBuilder]
    let positions: [(groups: [Int], measures: [Int])]

    public init(spec: ViewSpec, keys: PseudonymKeys, optOut: OptOutFilter) {
        self.spec = spec
        transform = ViewTransform(spec: spec, keys: keys, optOut: optOut)
        builders = spec.aggregates.map { AggregateBuilder(spec: $0, dateLayout: spec.dateLayout) }
        let index = spec.sourceIndex
        positions = spec.aggregates.map { a in
            (
                a.groupBy.compactMap { index[$0.name] },
                a.measures.compactMap {
                    switch $0 {
                    case .sum(let c), .mean(let c): index[c]
                    default: nil
                    }
                }
            )
        }
    }

    public var counts: ViewTransform.Counts { transform.counts }

    /// A reader for one more source object.
    public func reader() -> RowReader { RowReader(format: spec.format, separator: spec.separator, columns: spec.sourceColumns) }

    public mutating func add(_ row: [Value], line: Int) throws {
        let (patient, served) = transform.admit(row)
        guard served else { return }
        for i in builders.indices {
            try builders[i].add(
                patient: patient, groups: positions[i].groups.map { row[$0] }, measures: positions[i].measures.map { row[$0] }, line: line)
        }
    }

    /// Every aggregate's table and the cells to mask, decided over all of them at once.
    public func tables() -> ([AggregateTable], [Suppression.Cell: Suppression.Kind]) {
        let tables = builders.map(\.table)
        return (tables, Suppression.suppress(tables))
    }
}
