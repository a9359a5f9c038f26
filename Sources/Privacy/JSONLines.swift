/// JSON Lines (one JSON object per line, RFC 8259 values): an incremental line splitter and a
/// strict parser of one line into its top-level members. Nested arrays and objects are checked
/// and kept as text. A line that is not an object, a duplicate member name (tools disagree on
/// which one wins, so the view could show another value than the reader), invalid UTF-8 and
/// malformed JSON are errors naming the line.
public struct JSONLinesParser: Sendable {
    private var buffer: [UInt8] = []
    private var line = 0
    public static let maxLineBytes = 16 << 20

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>, emit: ([(String, Value)], Int) throws -> Void) throws {
        for b in bytes {
            if b == 10 {
                line += 1
                try flush(emit: emit)
            } else {
                buffer.append(b)
                if buffer.count > Self.maxLineBytes {
                    throw PrivacyError(line: line + 1, "line longer than \(Self.maxLineBytes >> 20) MiB")
                }
            }
        }
    }

    /// Continues at a line boundary: the next line is `line`.
    mutating func resume(at line: Int) {
        self.line = line - 1
        buffer.removeAll(keepingCapacity: true)
    }

    public mutating func finish(emit: ([(String, Value)], Int) throws -> Void) throws {
        guard !buffer.isEmpty else { return }
        line += 1
        try flush(emit: emit)
    }

    private mutating func flush(emit: ([(String, Value)], Int) throws -> Void) throws {
        defer { buffer.removeAll(keepingCapacity: true) }
        if buffer.last == 13 { buffer.removeLast() }
        if line == 1, buffer.starts(with: [0xEF, 0xBB, 0xBF]) { buffer.removeFirst(3) }
        guard buffer.contains(where: { !JSONScanner.isSpace($0) }) else { return }
        do {
            try emit(try JSONScanner.object(buffer), line)
        } catch let e as PrivacyError where e.line == nil {
            throw PrivacyError(line: line, e.message)
        }
    }
}

/// A recursive-descent scanner of one JSON text (RFC 8259), depth-limited.
enum JSONScanner {
    static let maxDepth = 64

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    static func object(_ bytes: [UInt8]) throws -> [(String, Value)] {
        var i = 0
        skipSpace(bytes, &i)
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { throw PrivacyError("not a JSON object") }
        var members: [(String, Value)] = []
        var names = Set<String>()
        i += 1
        skipSpace(bytes, &i)
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace(bytes, &i)
                let name = try string(bytes, &i)
                guard names.insert(name).inserted else { throw PrivacyError("duplicate member \"\(name)\"") }
                skipSpace(bytes, &i)
                try expect(bytes, &i, ":")
                skipSpace(bytes, &i)
                members.append((name, try value(bytes, &i)))
                skipSpace(bytes, &i)
                guard i < bytes.count else { throw PrivacyError("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(bytes, &i, "}")
                break
            }
        }
        skipSpace(bytes, &i)
        guard i == bytes.count else { throw PrivacyError("text after the object") }
        return members
    }

    static func value(_ bytes: [UInt8], _ i: inout Int) throws -> Value {
        guard i < bytes.count else { throw PrivacyError("missing value") }
        switch bytes[i] {
        case UInt8(ascii: "\""): return .text(try string(bytes, &i))
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let start = i
            try skipNested(bytes, &i, depth: 1)
            return .json(String(decoding: bytes[start..<i], as: UTF8.self))
        case UInt8(ascii: "t"):
            try literal(bytes, &i, "true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal(bytes, &i, "false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal(bytes, &i, "null")
            return .null
        default:
            return .number(try number(bytes, &i))
        }
    }

    /// Skips any value, checking it (used inside nested arrays and objects).
    static func skip(_ bytes: [UInt8], _ i: inout Int, depth: Int) throws {
        guard i < bytes.count else { throw PrivacyError("missing value") }
        switch bytes[i] {
        case UInt8(ascii: "{"), UInt8(ascii: "["): try skipNested(bytes, &i, depth: depth + 1)
        default: _ = try value(bytes, &i)
        }
    }

    static func skipNested(_ bytes: [UInt8], _ i: inout Int, depth: Int) throws {
        guard depth <= maxDepth else { throw PrivacyError("nested deeper than \(maxDepth)") }
        let isObject = bytes[i] == UInt8(ascii: "{")
        let close = UInt8(ascii: isObject ? "}" : "]")
        i += 1
        skipSpace(bytes, &i)
        if i < bytes.count, bytes[i] == close {
            i += 1
            return
        }
        while true {
            skipSpace(bytes, &i)
            if isObject {
                _ = try string(bytes, &i)
                skipSpace(bytes, &i)
                try expect(bytes, &i, ":")
                skipSpace(bytes, &i)
            }
            try skip(bytes, &i, depth: depth)
            skipSpace(bytes, &i)
            guard i < bytes.count else { throw PrivacyError("unterminated \(isObject ? "object" : "array")") }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == close else { throw PrivacyError("expected , or \(Character(Unicode.Scalar(close)))") }
            i += 1
            return
        }
    }

    static func string(_ bytes: [UInt8], _ i: inout Int) throws -> String {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw PrivacyError("expected a string") }
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw PrivacyError("invalid UTF-8 in a string") }
                return s
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { throw PrivacyError("unterminated string") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    var scalar = try hex4(bytes, &i)
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw PrivacyError("unpaired surrogate in a string")
                        }
                        i += 2
                        let low = try hex4(bytes, &i)
                        guard (0xDC00..<0xE000).contains(low) else { throw PrivacyError("unpaired surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw PrivacyError("unpaired surrogate in a string") }
                    out.append(contentsOf: String(Character(u)).utf8)
                default: throw PrivacyError("invalid escape in a string")
                }
            default:
                guard b >= 0x20 else { throw PrivacyError("control character in a string") }
                out.append(b)
            }
        }
        throw PrivacyError("unterminated string")
    }

    static func hex4(_ bytes: [UInt8], _ i: inout Int) throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw PrivacyError("short \\u escape") }
        var v: UInt32 = 0
        for b in bytes[i..<i + 4] {
            guard let d = hexDigit(b) else { throw PrivacyError("invalid \\u escape") }
            v = v << 4 | d
        }
        i += 4
        return v
    }

    static func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(b - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func number(_ bytes: [UInt8], _ i: inout Int) throws -> String {
        let start = i
        func digits() -> Int {
            let s = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            return i - s
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count else { throw PrivacyError("invalid value") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else if digits() == 0 {
            throw PrivacyError("invalid value")
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw PrivacyError("invalid number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw PrivacyError("invalid number") }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    static func literal(_ bytes: [UInt8], _ i: inout Int, _ word: StaticString) throws {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard i + w.count <= bytes.count, bytes[i..<i + w.count].elementsEqual(w) else { throw PrivacyError("invalid value") }
        i += w.count
    }

    static func expect(_ bytes: [UInt8], _ i: inout Int, _ c: Unicode.Scalar) throws {
        guard i < bytes.count, bytes[i] == UInt8(ascii: c) else { throw PrivacyError("expected \(c)") }
        i += 1
    }

    static func skipSpace(_ bytes: [UInt8], _ i: inout Int) {
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
    }
}

/// Writes one JSON object per line, members in the order given.
public enum JSONLinesWriter {
    public static func append(_ members: some Sequence<(String, Value)>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (name, value) in members {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
            switch value {
            case .null: out.append(contentsOf: "null".utf8)
            case .text(let s): appendString(s, to: &out)
            case .number(let s), .json(let s): out.append(contentsOf: s.utf8)
            case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
            }
        }
        out.append(contentsOf: "}\n".utf8)
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 10: out.append(contentsOf: "\\n".utf8)
            case 13: out.append(contentsOf: "\\r".utf8)
            case 9: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
