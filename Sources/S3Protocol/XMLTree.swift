/// A small, strict XML parser for S3 request bodies (CompleteMultipartUpload, Delete,
/// CreateBucketConfiguration): elements, text, CDATA, comments, processing instructions and
/// the predefined and numeric character references. DTDs are refused (no entity expansion),
/// depth and size are bounded.
///
/// Written here because Foundation's XMLParser on Linux crashed the process on input found by
/// the fuzz harness (`_NSXMLParserStartElementNs`): a request body must never be able to do that.
public struct XMLElement: Sendable, Equatable {
    public var name: String
    public var children: [XMLElement]
    public var text: String

    /// Local name (namespace prefix dropped).
    public var localName: String {
        name.split(separator: ":", maxSplits: 1).last.map(String.init) ?? name
    }

    public func child(_ local: String) -> XMLElement? {
        children.first { $0.localName == local }
    }

    public func all(_ local: String) -> [XMLElement] {
        children.filter { $0.localName == local }
    }
}

public enum XMLTree {
    public struct ParseError: Error, Sendable, Equatable {
        public var offset: Int
        public var reason: String
    }

    public static let maxDepth = 32

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> XMLElement {
        var p = Parser(bytes: bytes)
        p.skipMisc()
        guard p.peek(UInt8(ascii: "<")) else { throw p.error("expected the root element") }
        let root = try p.element(depth: 0)
        p.skipMisc()
        guard p.atEnd else { throw p.error("content after the root element") }
        return root
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        var atEnd: Bool { i >= bytes.count }

        func error(_ reason: String) -> ParseError { ParseError(offset: i, reason: reason) }

        func peek(_ c: UInt8) -> Bool { i < bytes.count && bytes[i] == c }

        func starts(with s: String) -> Bool {
            let u = Array(s.utf8)
            return i + u.count <= bytes.count && Array(bytes[i..<(i + u.count)]) == u
        }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        mutating func skip(past terminator: String) throws(ParseError) {
            let t = Array(terminator.utf8)
            while i + t.count <= bytes.count {
                if Array(bytes[i..<(i + t.count)]) == t {
                    i += t.count
                    return
                }
                i += 1
            }
            throw error("unterminated construct, expected \(terminator)")
        }

        /// Prolog and epilog: whitespace, comments, processing instructions. DOCTYPE is refused.
        mutating func skipMisc() {
            while true {
                skipSpace()
                if starts(with: "<?") {
                    if (try? skip(past: "?>")) == nil { return }
                } else if starts(with: "<!--") {
                    if (try? skip(past: "-->")) == nil { return }
                } else {
                    return
                }
            }
        }

        static func isNameByte(_ c: UInt8) -> Bool {
            c >= 0x80 || (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":")
        }

        mutating func name() throws(ParseError) -> String {
            let start = i
            while i < bytes.count, Self.isNameByte(bytes[i]) { i += 1 }
            guard i > start, let s = String(validating: bytes[start..<i], as: UTF8.self) else { throw error("expected a name") }
            return s
        }

        mutating func element(depth: Int) throws(ParseError) -> XMLElement {
            guard depth < XMLTree.maxDepth else { throw error("nesting too deep") }
            i += 1  // '<'
            let tag = try name()
            // Attributes (xmlns and the like) are read and ignored.
            while true {
                skipSpace()
                if starts(with: "/>") {
                    i += 2
                    return XMLElement(name: tag, children: [], text: "")
                }
                if peek(UInt8(ascii: ">")) {
                    i += 1
                    break
                }
                _ = try name()
                skipSpace()
                guard peek(UInt8(ascii: "=")) else { throw error("expected '=' in attribute") }
                i += 1
                skipSpace()
                guard i < bytes.count, bytes[i] == 0x22 || bytes[i] == 0x27 else { throw error("expected a quoted attribute value") }
                let quote = bytes[i]
                i += 1
                while i < bytes.count, bytes[i] != quote {
                    guard bytes[i] != UInt8(ascii: "<") else { throw error("'<' in attribute value") }
                    i += 1
                }
                guard i < bytes.count else { throw error("unterminated attribute value") }
                i += 1
            }
            var children: [XMLElement] = []
            var text: [UInt8] = []
            while true {
                guard i < bytes.count else { throw error("unterminated element <\(tag)>") }
                let c = bytes[i]
                if c == UInt8(ascii: "<") {
                    if starts(with: "</") {
                        i += 2
                        let closing = try name()
                        guard closing == tag else { throw error("</\(closing)> closes <\(tag)>") }
                        skipSpace()
                        guard peek(UInt8(ascii: ">")) else { throw error("expected '>'") }
                        i += 1
                        guard let t = String(validating: text, as: UTF8.self) else { throw error("text is not UTF-8") }
                        return XMLElement(name: tag, children: children, text: t)
                    } else if starts(with: "<!--") {
                        try skip(past: "-->")
                    } else if starts(with: "<![CDATA[") {
                        i += 9
                        let start = i
                        try skip(past: "]]>")
                        text += bytes[start..<(i - 3)]
                    } else if starts(with: "<?") {
                        try skip(past: "?>")
                    } else if starts(with: "<!") {
                        throw error("DTDs and declarations are not accepted")
                    } else {
                        children.append(try element(depth: depth + 1))
                    }
                } else if c == UInt8(ascii: "&") {
                    text += try reference()
                } else {
                    text.append(c)
                    i += 1
                }
            }
        }

        mutating func reference() throws(ParseError) -> [UInt8] {
            let start = i
            guard let semi = bytes[i..<min(bytes.count, i + 12)].firstIndex(of: UInt8(ascii: ";")) else {
                throw error("unterminated character reference")
            }
            let body = String(decoding: bytes[(start + 1)..<semi], as: UTF8.self)
            i = semi + 1
            switch body {
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "amp": return [UInt8(ascii: "&")]
            case "quot": return [UInt8(ascii: "\"")]
            case "apos": return [UInt8(ascii: "'")]
            default:
                var value: UInt32?
                if body.hasPrefix("#x") || body.hasPrefix("#X") {
                    value = UInt32(body.dropFirst(2), radix: 16)
                } else if body.hasPrefix("#") {
                    value = UInt32(body.dropFirst(), radix: 10)
                }
                guard let v = value, let scalar = Unicode.Scalar(v), v != 0 else { throw error("unknown reference &\(body);") }
                return Array(String(Character(scalar)).utf8)
            }
        }
    }
}
