/// An incremental RFC 4180 reader: bytes in (any chunking), records out, with the line each
/// record starts on. Accepts `,`, `;` or tab separators, LF, CRLF or CR line ends, a UTF-8
/// byte-order mark, and quoted fields holding separators, doubled quotes and newlines. It is
/// strict where leniency would hide a damaged file: a quote inside an unquoted field, text
/// after a closing quote, an unterminated quote, invalid UTF-8 and a record whose field count
/// differs from the header's are errors naming the line. Blank lines are skipped.
public struct CSVParser: Sendable {
    enum State: Sendable {
        case fieldStart, unquoted, quoted, quoteInQuoted, afterCR
    }

    public let separator: UInt8
    private var state = State.fieldStart
    private var field: [UInt8] = []
    private var fields: [String] = []
    private var line = 1
    private var recordLine = 1
    private var started = false
    private var bomChecked = 0
    private var recordBytes = 0
    /// A record longer than this is refused, so an unterminated quote cannot exhaust memory.
    public static let maxRecordBytes = 16 << 20
    public private(set) var width: Int?

    public init(separator: UInt8 = UInt8(ascii: ",")) {
        self.separator = separator
    }

    /// Feeds the next bytes; `emit` gets every record they complete (the header first).
    public mutating func feed(_ bytes: some Sequence<UInt8>, emit: ([String], Int) throws -> Void) throws {
        if try bytes.withContiguousStorageIfAvailable({ try feed(UnsafeRawBufferPointer($0), emit: emit) }) != nil { return }
        try Array(bytes).withUnsafeBytes { try feed($0, emit: emit) }
    }

    public mutating func feed(_ raw: UnsafeRawBufferPointer, emit: ([String], Int) throws -> Void) throws {
        let quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var i = 0
        while i < raw.count {
            if bomChecked < 3 {
                // A UTF-8 byte-order mark is not part of the first column's name; a partial
                // one is replayed as data (and fails as invalid UTF-8).
                let b = raw[i]
                i += 1
                if b == Self.bom[bomChecked] {
                    bomChecked += 1
                    continue
                }
                try endBOMCheck(emit: emit)
                try step(b, emit: emit)
                continue
            }
            // Runs of ordinary bytes inside a field are copied at once; the state machine
            // sees only the bytes that can change its state.
            var j = i
            switch state {
            case .unquoted:
                while j < raw.count, raw[j] != separator, raw[j] != quote, raw[j] != lf, raw[j] != cr { j += 1 }
            case .quoted:
                while j < raw.count, raw[j] != quote, raw[j] != lf { j += 1 }
            default:
                break
            }
            if j > i {
                try count(j - i)
                field.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[i..<j]))
                i = j
                continue
            }
            try step(raw[i], emit: emit)
            i += 1
        }
    }

    /// Continues at a record boundary on `line` (the header already read).
    mutating func resume(at line: Int) {
        self.line = line
        recordLine = line
        bomChecked = 3
        state = .fieldStart
        field.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        started = false
        recordBytes = 0
    }

    private mutating func count(_ n: Int) throws {
        recordBytes += n
        if recordBytes > Self.maxRecordBytes {
            throw PrivacyError(line: recordLine, "record longer than \(Self.maxRecordBytes >> 20) MiB")
        }
    }

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// The bytes seen were not (all) a byte-order mark: what matched of one is data after all.
    private mutating func endBOMCheck(emit: ([String], Int) throws -> Void) throws {
        let partial = Self.bom[0..<bomChecked]
        bomChecked = 3
        for p in partial { try step(p, emit: emit) }
    }

    /// The end of the input: completes the last record (with or without a final newline).
    public mutating func finish(emit: ([String], Int) throws -> Void) throws {
        if bomChecked < 3 { try endBOMCheck(emit: emit) }
        switch state {
        case .quoted:
            throw PrivacyError(line: recordLine, "unterminated quoted field")
        case .afterCR:
            state = .fieldStart
        case .fieldStart:
            if started { try endField() }
            try endRecord(emit: emit)
        case .unquoted, .quoteInQuoted:
            try endField()
            try endRecord(emit: emit)
        }
    }

    private mutating func step(_ b: UInt8, emit: ([String], Int) throws -> Void) throws {
        try count(1)
        let quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        switch state {
        case .afterCR:
            state = .fieldStart
            if b == lf { return }
            try step(b, emit: emit)
        case .fieldStart:
            if b == quote {
                started = true
                state = .quoted
            } else if b == separator {
                started = true
                try endField()
            } else if b == lf || b == cr {
                if started { try endField() }
                try endRecord(emit: emit)
                line += 1
                state = b == cr ? .afterCR : .fieldStart
            } else {
                started = true
                field.append(b)
                state = .unquoted
            }
        case .unquoted:
            if b == separator {
                try endField()
                state = .fieldStart
            } else if b == lf || b == cr {
                try endLine(b, emit: emit)
            } else if b == quote {
                throw PrivacyError(line: line, "a quote inside an unquoted field (RFC 4180 §2.5)")
            } else {
                field.append(b)
            }
        case .quoted:
            if b == quote {
                state = .quoteInQuoted
            } else {
                if b == lf { line += 1 }
                field.append(b)
            }
        case .quoteInQuoted:
            if b == quote {
                field.append(quote)
                state = .quoted
            } else if b == separator {
                try endField()
                state = .fieldStart
            } else if b == lf || b == cr {
                try endLine(b, emit: emit)
            } else {
                throw PrivacyError(line: line, "text after a closing quote")
            }
        }
    }

    /// A line end after a field: the field and the record end (a CR may be followed by LF).
    private mutating func endLine(_ b: UInt8, emit: ([String], Int) throws -> Void) throws {
        try endField()
        try endRecord(emit: emit)
        line += 1
        state = b == UInt8(ascii: "\r") ? .afterCR : .fieldStart
    }

    private mutating func endField() throws {
        // ASCII needs no validation (the common case, and much cheaper).
        if field.allSatisfy({ $0 < 0x80 }) {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            return
        }
        guard let s = String(validating: field, as: UTF8.self) else {
            throw PrivacyError(line: line, "invalid UTF-8 in field \(fields.count + 1)")
        }
        fields.append(s)
        field.removeAll(keepingCapacity: true)
    }

    private mutating func endRecord(emit: ([String], Int) throws -> Void) throws {
        defer {
            fields.removeAll(keepingCapacity: true)
            started = false
            recordBytes = 0
            recordLine = line + 1
        }
        guard !fields.isEmpty else { return }
        if let width, fields.count != width {
            throw PrivacyError(line: recordLine, "row has \(fields.count) fields, the header has \(width)")
        }
        width = width ?? fields.count
        try emit(fields, recordLine)
    }
}

/// Writes records as RFC 4180 CSV (LF line ends), quoting only the fields that need it.
public enum CSVWriter {
    public static func append(_ fields: [String], separator: UInt8, to out: inout [UInt8]) {
        for (i, f) in fields.enumerated() {
            if i > 0 { out.append(separator) }
            field(f, separator: separator, to: &out)
        }
        out.append(10)
    }

    /// A row of values (null and empty text are empty fields).
    public static func append(_ values: [Value], separator: UInt8, to out: inout [UInt8]) {
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(separator) }
            if let s = v.scalar { field(s, separator: separator, to: &out) }
        }
        out.append(10)
    }

    static func field(_ f: String, separator: UInt8, to out: inout [UInt8]) {
        // A leading U+FEFF is quoted so no reader takes it for a byte-order mark.
        let needsQuotes =
            f.utf8.contains { $0 == separator || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 } || f.utf8.starts(with: [0xEF, 0xBB, 0xBF])
        guard needsQuotes else {
            out.append(contentsOf: f.utf8)
            return
        }
        out.append(UInt8(ascii: "\""))
        for b in f.utf8 {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }
}
