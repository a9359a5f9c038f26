import Testing

@testable import Privacy

@Suite("CSV and JSON Lines readers")
struct CSVTests {
    func records(_ text: String, separator: UInt8 = UInt8(ascii: ","), chunk: Int = 1) throws -> [[String]] {
        var p = CSVParser(separator: separator)
        var out: [[String]] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            try p.feed(bytes[i..<min(bytes.count, i + chunk)]) { f, _ in out.append(f) }
            i += chunk
        }
        try p.finish { f, _ in out.append(f) }
        return out
    }

    @Test("RFC 4180 quoting: separators, doubled quotes and newlines inside quotes, in any chunking")
    func quoting() throws {
        let text = "a,b,c\r\n\"x,1\",\"he said \"\"hi\"\"\",\"two\r\nlines\"\r\n,,\r\n"
        for chunk in [1, 2, 3, 7, 1000] {
            #expect(try records(text, chunk: chunk) == [["a", "b", "c"], ["x,1", "he said \"hi\"", "two\r\nlines"], ["", "", ""]])
        }
    }

    @Test("semicolon and tab separators, a byte-order mark, LF and CR line ends, no final newline")
    func dialects() throws {
        #expect(try records("\u{FEFF}id;v\n1;\"a;b\"", separator: UInt8(ascii: ";")) == [["id", "v"], ["1", "a;b"]])
        #expect(try records("id\tv\r2\tx\r", separator: 9) == [["id", "v"], ["2", "x"]])
        #expect(try records("id,v\n\n3,y\n\n") == [["id", "v"], ["3", "y"]])
    }

    @Test(
        "damaged files fail with the line of the problem",
        arguments: [
            ("a,b\n1,2\n3\n", 3, "row has 1 fields"),
            ("a,b\n1,\"open\n2,3\n", 2, "unterminated"),
            ("a,b\n1,x\"y\n", 2, "quote inside"),
            ("a,b\n\"1\"x,2\n", 2, "after a closing quote"),
            ("a,b\n1,\u{FF}\n", 2, "invalid UTF-8"),
        ])
    func damaged(text: String, line: Int, message: String) throws {
        var bytes = Array(text.utf8)
        if let i = bytes.firstIndex(of: 0xC3) { bytes[i...i + 1] = [0xFF] }
        var p = CSVParser()
        do {
            try p.feed(bytes) { _, _ in }
            try p.finish { _, _ in }
            Issue.record("accepted")
        } catch let e as PrivacyError {
            #expect(e.line == line)
            #expect(e.message.contains(message), "\(e)")
        }
    }

    @Test("the writer quotes what needs it and reads back the same fields")
    func writer() throws {
        let rows = [["id", "note"], ["1", "a,b"], ["2", "say \"x\""], ["3", "l1\nl2"], ["4", ""]]
        var out: [UInt8] = []
        for r in rows { CSVWriter.append(r, separator: UInt8(ascii: ","), to: &out) }
        #expect(try records(String(decoding: out, as: UTF8.self), chunk: 5) == rows)
    }

    @Test("JSON Lines: members typed, nested values verbatim, damaged lines named")
    func jsonLines() throws {
        var p = JSONLinesParser()
        var got: [[(String, Value)]] = []
        let text = "{\"id\":\"a\\u00e9\",\"n\":1.50,\"b\":true,\"z\":null,\"o\":{\"k\":[1,2]}}\r\n\n{}\n"
        try p.feed(Array(text.utf8)) { m, _ in got.append(m) }
        try p.finish { m, _ in got.append(m) }
        #expect(got.count == 2)
        #expect(got[0].map(\.0) == ["id", "n", "b", "z", "o"])
        #expect(got[0].map(\.1) == [.text("aé"), .number("1.50"), .bool(true), .null, .json("{\"k\":[1,2]}")])
        for (bad, msg) in [
            ("[1]", "not a JSON object"), ("{\"a\":1,\"a\":2}", "duplicate"), ("{\"a\":01}", "expected }"),
            ("{\"a\":\"\\ud800\"}", "surrogate"), ("{\"a\":1} x", "text after"), ("{\"a\":[1,}", "invalid value"),
        ] {
            var q = JSONLinesParser()
            #expect(throws: PrivacyError.self) { try q.feed(Array("{}\n\(bad)\n".utf8)) { _, _ in } }
            do {
                var r = JSONLinesParser()
                try r.feed(Array("{}\n\(bad)\n".utf8)) { _, _ in }
            } catch let e as PrivacyError {
                #expect(e.line == 2)
                #expect(e.message.contains(msg), "\(bad): \(e)")
            }
        }
    }

    @Test("the JSON writer escapes and the reader reads back")
    func jsonWriter() throws {
        var out: [UInt8] = []
        let members: [(String, Value)] = [("q\"", .text("a\nb\u{1}\\")), ("n", .number("-2e3")), ("x", .null)]
        JSONLinesWriter.append(members, to: &out)
        var p = JSONLinesParser()
        var got: [(String, Value)] = []
        try p.feed(out) { m, _ in got = m }
        #expect(got.map(\.0) == members.map(\.0))
        #expect(got.map(\.1) == members.map(\.1))
    }
}
