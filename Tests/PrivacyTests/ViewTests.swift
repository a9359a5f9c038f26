import Crypto
import Foundation
import Testing

@testable import Privacy

@Suite("Views: the view file and the streaming transform")
struct ViewTests {
    static let yaml = """
        format: csv
        patient: nir
        columns:
          nir: pseudonym
          birth: {generalise: year}
          postcode: departement
          age: {bands: {width: 10, min: 0, max: 90}}
          care: {shift: 10}
          icd: {prefix: 3}
          cost: keep
          name: drop
        where:
          - {column: care, op: ">=", value: "2020-01-01"}
        """

    static let source = """
        nir,name,birth,postcode,age,care,icd,cost,extra
        1 85 05 75 123 456,Dupont,1985-05-02,75012,39,2021-03-04,E11.9,12.5,secret
        185057512345 6,Dupont,1985-05-02,75012,39,2021-03-14T08:30,I10,3,secret
        2 91 2A 04 567 890,"Martin, J",1991-12-31,20000,95,2022-01-01,J45,"1,5",secret
        1 70 01 13 000 001,Durand,1970-01-01,13001,54,2019-12-31,C50,7,secret

        """

    func run(_ spec: ViewSpec, _ text: String, optOut: [String] = [], secret: SymmetricKey, chunk: Int = 7) throws -> (String, ViewTransform.Counts) {
        let key = PseudonymKeys.optOutKey(secret: secret)
        let filter = OptOutFilter(key: key, hashes: optOut.map { OptOutFilter.hash($0, key: key) })
        var e = ViewEngine(spec: spec, keys: PseudonymKeys(secret: secret, project: "p", epoch: 1, dataset: nil), optOut: filter)
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            try e.feed(bytes[i..<min(i + chunk, bytes.count)], into: &out)
            i += chunk
        }
        try e.finish(into: &out)
        return (String(decoding: out, as: UTF8.self), e.counts)
    }

    @Test("a view keeps only the columns it names, pseudonymises, generalises, shifts, filters")
    func transform() throws {
        let spec = try ViewSpec.parse(Self.yaml)
        #expect(spec.outputColumns == ["nir", "birth", "postcode", "age", "care", "icd", "cost"])
        let secret = SymmetricKey(size: .bits256)
        let (out, counts) = try run(spec, Self.source, secret: secret)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines[0] == "nir,birth,postcode,age,care,icd,cost")
        #expect(lines.count == 4)
        #expect(counts == .init(read: 4, served: 3, optedOut: 0, filtered: 1))
        let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows[0][0] == rows[1][0])
        #expect(rows[0][0].count == 32)
        #expect(rows[0][1...3] == ["1985", "75", "[30-40)"])
        #expect(rows[2][1...3] == ["1991", "2A", ">=90"])
        #expect(rows[0][5] == "E11" && rows[2][5] == "J45")
        // One offset for one patient: ten days between the two visits either way.
        let d0 = try #require(CalendarDate.parse(rows[0][4], layout: .iso)).0
        let d1 = try #require(CalendarDate.parse(rows[1][4], layout: .iso))
        #expect(d1.0.dayNumber - d0.dayNumber == 10)
        #expect(d1.suffix == "T08:30")
        for forbidden in ["Dupont", "Martin", "secret", "1985-05-02", "75012", "20000", "123 456"] {
            #expect(!out.contains(forbidden), "\(forbidden)")
        }
        // Chunking does not change the output.
        #expect(try run(spec, Self.source, secret: secret, chunk: 1).0 == out)
        #expect(try run(spec, Self.source, secret: secret, chunk: 4096).0 == out)
    }

    @Test("patients in the opt-out registry are removed, whatever the spelling")
    func optOut() throws {
        let spec = try ViewSpec.parse(Self.yaml)
        let (out, counts) = try run(spec, Self.source, optOut: ["185 057 512 3456"], secret: SymmetricKey(size: .bits256))
        #expect(counts == .init(read: 4, served: 1, optedOut: 2, filtered: 1))
        #expect(out.split(separator: "\n").count == 2)
    }

    @Test("JSON Lines: typed values kept, missing members null, a column in no line is an error")
    func jsonLines() throws {
        let spec = try ViewSpec.parse("format: jsonl\npatient: id\ncolumns:\n  id: pseudonym\n  n: keep\n  d: {generalise: month}\n")
        let secret = SymmetricKey(size: .bits256)
        let (out, _) = try run(spec, "{\"id\":\"x\",\"n\":1.50,\"d\":\"2020-02-03\",\"name\":\"A\"}\n{\"id\":\"y\",\"d\":null}\n", secret: secret)
        let lines = out.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasSuffix(",\"n\":1.50,\"d\":\"2020-02\"}"))
        #expect(lines[1].hasSuffix(",\"n\":null,\"d\":null}"))
        #expect(!out.contains("\"A\""))
        #expect(throws: PrivacyError.self) { try run(spec, "{\"id\":\"x\",\"n\":1}\n", secret: secret) }
    }

    @Test("a view column absent from the header, a value a rule cannot read: errors with the line")
    func sourceErrors() throws {
        let secret = SymmetricKey(size: .bits256)
        let spec = try ViewSpec.parse(Self.yaml)
        do {
            _ = try run(spec, "nir,birth\n1,2000-01-01\n", secret: secret)
            Issue.record("accepted")
        } catch let e as PrivacyError {
            #expect(e.line == 1 && e.message.contains("\"postcode\" is not in the file"), "\(e)")
        }
        do {
            _ = try run(spec, Self.source.replacingOccurrences(of: "20000", with: "2000x"), secret: secret)
            Issue.record("accepted")
        } catch let e as PrivacyError {
            #expect(e.line == 4 && e.message.contains("postcode") && !e.message.contains("2000x"), "\(e)")
        }
    }

    @Test(
        "invalid view files are refused with the line of the problem",
        arguments: [
            ("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\n  a: kep\n", 5, "unknown rule"),
            ("format: csv\npatient: nir\ncolums:\n  nir: pseudonym\n", 3, "unknown field"),
            ("format: xls\npatient: nir\ncolumns:\n  nir: pseudonym\n", 1, "format must be"),
            ("format: csv\npatient: nir\ncolumns:\n  nir: keep\n", 2, "only be pseudonymised"),
            ("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\n  a: {bands: [5, 1]}\n", 5, "increasing"),
            ("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\n  a: {shift: 0}\n", 5, "shift"),
            ("format: csv\npatient: nir\ncolumns:\n  nir: drop\n", 4, "serves no column"),
            ("format: csv\npatient: nir\ncolumns: [a\n", 4, "not valid YAML"),
            ("format: csv\ncolumns:\n  a: keep\n", 1, "patient is required"),
            ("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\nwhere:\n  - {column: a, op: like, value: x}\n", 6, "op must be"),
            ("format: jsonl\nseparator: \";\"\npatient: nir\ncolumns:\n  nir: pseudonym\n", 2, "separator is for csv"),
        ])
    func badViews(text: String, line: Int, message: String) {
        do {
            _ = try ViewSpec.parse(text)
            Issue.record("accepted")
        } catch let e as PrivacyError {
            #expect(e.line == line, "\(e)")
            #expect(e.message.contains(message), "\(e)")
        } catch {
            Issue.record("\(error)")
        }
    }
}

@Suite("Blocks: a view cut into blocks of whole records gives the sequential output")
struct BlockTests {
    /// What `ViewStream` does, sequentially: the first block to the main engine, the others to
    /// copies of it, the rest back to the main engine.
    static func blocks(
        _ spec: ViewSpec, _ text: [UInt8], size: Int, keys: PseudonymKeys, optOut: OptOutFilter
    ) throws -> ([UInt8], ViewTransform.Counts) {
        var main = ViewEngine(spec: spec, keys: keys, optOut: optOut)
        var splitter = RecordSplitter(format: spec.format)
        var out: [UInt8] = []
        var pending: [UInt8] = []
        var started = false
        var i = 0
        while i < text.count {
            pending += text[i..<min(text.count, i + size)]
            i += size
            let line = splitter.line
            let n = pending.withUnsafeBytes { splitter.cut($0) }
            guard n > 0 else { continue }
            let records = Array(pending[0..<n])
            pending.removeFirst(n)
            if !started {
                try main.feed(records, into: &out)
                started = true
            } else {
                var e = main.block(startingAt: line)
                try e.feed(records, into: &out)
                main.absorb(e)
            }
        }
        if started { main.resume(at: splitter.line) }
        try main.feed(pending, into: &out)
        try main.finish(into: &out)
        return (out, main.counts)
    }

    @Test("CSV with quoted newlines, CRLF and CR line ends, and JSON Lines, cut anywhere")
    func sameOutput() throws {
        let keys = PseudonymKeys(secret: SymmetricKey(size: .bits256), project: "p", epoch: 1, dataset: nil)
        let filter = OptOutFilter(key: SymmetricKey(size: .bits256), hashes: [])
        let csv = try ViewSpec.parse("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\n  note: keep\n  d: {generalise: month}\n")
        var text = "nir,note,d\r\n"
        for i in 0..<300 { text += "\(i % 17),\"a\r\nb,\"\"\(i)\"\"\",2020-0\(1 + i % 9)-01\(i % 3 == 0 ? "\r" : "\r\n")" }
        let json = try ViewSpec.parse("format: jsonl\npatient: nir\ncolumns:\n  nir: pseudonym\n  n: keep\n")
        var lines = ""
        for i in 0..<300 { lines += "{\"nir\":\"\(i % 13)\",\"n\":\(i)}\n" }
        for (spec, source) in [(csv, text), (json, lines)] {
            var sequential = ViewEngine(spec: spec, keys: keys, optOut: filter)
            var expected: [UInt8] = []
            try sequential.feed(Array(source.utf8), into: &expected)
            try sequential.finish(into: &expected)
            for size in [1, 2, 7, 64, 1000, 100_000] {
                let (got, counts) = try Self.blocks(spec, Array(source.utf8), size: size, keys: keys, optOut: filter)
                #expect(got == expected, "block size \(size)")
                #expect(counts == sequential.counts)
            }
        }
    }

    @Test("an error in a later block names the line of the whole file")
    func lines() throws {
        let keys = PseudonymKeys(secret: SymmetricKey(size: .bits256), project: "p", epoch: 1, dataset: nil)
        let filter = OptOutFilter(key: SymmetricKey(size: .bits256), hashes: [])
        let spec = try ViewSpec.parse("format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\n  note: keep\n")
        var text = "nir,note\n"
        for i in 0..<100 { text += "\(i),\"x\ny\"\n" }
        text += "1,2,3\n"
        for size in [5, 50, 500] {
            do {
                _ = try Self.blocks(spec, Array(text.utf8), size: size, keys: keys, optOut: filter)
                Issue.record("accepted")
            } catch let e as PrivacyError {
                #expect(e.line == 202, "\(e)")
            }
        }
    }
}
