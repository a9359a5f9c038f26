/// Rows of a CSV or JSON Lines file, as the named columns in a fixed order, whatever the
/// format: the row/column model the view transform and aggregates share (a Parquet codec can
/// feed it the same way). A named column absent from the file is an error: at the header for
/// CSV, at the end for JSON Lines (whose lines may omit a member, read as null).
public struct RowReader: Sendable {
    enum Parser: Sendable {
        case csv(CSVParser)
        case jsonl(JSONLinesParser)
    }

    public let columns: [String]
    var parser: Parser
    var csvPositions: [Int]?
    let jsonPositions: [String: Int]
    var seen: Set<Int> = []
    public internal(set) var rows = 0

    public init(format: ViewSpec.Format, separator: UInt8, columns: [String]) {
        self.columns = columns
        jsonPositions = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        switch format {
        case .csv: parser = .csv(CSVParser(separator: separator))
        case .jsonl: parser = .jsonl(JSONLinesParser())
        }
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>, emit: ([Value], Int) throws -> Void) throws {
        switch parser {
        case .csv(var p):
            defer { parser = .csv(p) }
            try p.feed(bytes) { fields, line in try csvRecord(fields, line, emit) }
        case .jsonl(var p):
            defer { parser = .jsonl(p) }
            try p.feed(bytes) { members, line in try jsonRecord(members, line, emit) }
        }
    }

    mutating func absorb(_ other: RowReader) {
        seen.formUnion(other.seen)
        rows += other.rows
    }

    /// Continues at a record boundary on `line` (a block of a larger file).
    mutating func resume(at line: Int) {
        switch parser {
        case .csv(var p):
            p.resume(at: line)
            parser = .csv(p)
        case .jsonl(var p):
            p.resume(at: line)
            parser = .jsonl(p)
        }
    }

    public mutating func finish(emit: ([Value], Int) throws -> Void) throws {
        switch parser {
        case .csv(var p):
            defer { parser = .csv(p) }
            try p.finish { fields, line in try csvRecord(fields, line, emit) }
            if csvPositions == nil { throw PrivacyError("the file has no header row") }
        case .jsonl(var p):
            defer { parser = .jsonl(p) }
            try p.finish { members, line in try jsonRecord(members, line, emit) }
            if rows > 0, let missing = columns.indices.first(where: { !seen.contains($0) }) {
                throw PrivacyError("the view's column \"\(columns[missing])\" is in no line of the file")
            }
        }
    }

    mutating func csvRecord(_ fields: [String], _ line: Int, _ emit: ([Value], Int) throws -> Void) throws {
        guard let positions = csvPositions else {
            var index: [String: Int] = [:]
            for (i, c) in fields.enumerated() where index[c] == nil { index[c] = i }
            csvPositions = try columns.map { c in
                guard let i = index[c] else { throw PrivacyError(line: line, "the view's column \"\(c)\" is not in the file") }
                return i
            }
            return
        }
        rows += 1
        try emit(positions.map { .text(fields[$0]) }, line)
    }

    mutating func jsonRecord(_ members: [(String, Value)], _ line: Int, _ emit: ([Value], Int) throws -> Void) throws {
        var row = [Value](repeating: .null, count: columns.count)
        for (name, value) in members {
            guard let i = jsonPositions[name] else { continue }
            row[i] = value
            seen.insert(i)
        }
        rows += 1
        try emit(row, line)
    }
}
