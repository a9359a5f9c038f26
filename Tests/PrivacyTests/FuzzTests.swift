import Crypto
import Foundation
import TestSupport
import Testing

@testable import Privacy

/// Bounded random-input harness for the readers of what projects' views consume (CSV, JSON
/// Lines) and of view files. The only acceptable outcomes are a value or a `PrivacyError`;
/// what is accepted must round-trip through the writers. `FUZZ_ITERATIONS` sets the count (CI
/// runs the default; 1,000,000 per target was run by hand).
@Suite("Privacy fuzz")
struct PrivacyFuzzTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["FUZZ_ITERATIONS"] ?? "") ?? 20_000

    static let csvSeed = Array("\u{FEFF}nir;note;d\r\n\"1 85\";\"a;\"\"b\"\"\nc\";2020-01-01\r\n2;;\r\n".utf8)
    static let jsonSeed = Array("{\"nir\":\"1\\u00e9\",\"n\":-1.5e3,\"o\":{\"a\":[1,{\"b\":null}]},\"t\":true}\n{}\n".utf8)
    static let viewSeed = """
        format: csv
        separator: ";"
        patient: nir
        normalise: [strip_spaces, upper]
        columns:
          nir: pseudonym
          d: {generalise: isoweek}
          n: {bands: {width: 5, min: 0, max: 90}}
          p: departement
          c: {prefix: 3}
          s: {shift: 10}
        where:
          - {column: d, op: ">=", value: "2020-01-01"}
          - {column: c, op: in, values: [a, b]}
        """

    /// Feeds `bytes` in chunks the mutator picks.
    static func chunks(_ bytes: [UInt8], _ m: inout ByteMutator) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var i = 0
        while i < bytes.count {
            let n = Int.random(in: 1...max(1, bytes.count), using: &m)
            out.append(bytes[i..<min(bytes.count, i + n)])
            i += n
        }
        return out
    }

    static func parseCSV(_ chunks: [ArraySlice<UInt8>], separator: UInt8) throws -> [[String]] {
        var p = CSVParser(separator: separator)
        var rows: [[String]] = []
        for c in chunks { try p.feed(c) { f, _ in rows.append(f) } }
        try p.finish { f, _ in rows.append(f) }
        return rows
    }

    @Test("CSV reader: a record list or a PrivacyError; what it accepts round-trips through the writer")
    func csv() throws {
        var m = ByteMutator(state: 0xC5F)
        for _ in 0..<Self.iterations {
            let input = m.mutate(Self.csvSeed)
            let rows: [[String]]
            do { rows = try Self.parseCSV(Self.chunks(input, &m), separator: UInt8(ascii: ";")) } catch is PrivacyError { continue }
            var out: [UInt8] = []
            for r in rows { CSVWriter.append(r, separator: UInt8(ascii: ";"), to: &out) }
            // Records of one empty field are blank lines once written, and skipped when read.
            let again = try? Self.parseCSV([out[...]], separator: UInt8(ascii: ";"))
            #expect(again == rows.filter { $0 != [""] }, "\(input) → \(out)")
        }
    }

    @Test("JSON Lines reader: members or a PrivacyError; what it accepts round-trips through the writer")
    func jsonLines() throws {
        var m = ByteMutator(state: 0x150)
        for _ in 0..<Self.iterations {
            let input = m.mutate(Self.jsonSeed)
            var lines: [[(String, Value)]] = []
            do {
                var p = JSONLinesParser()
                for c in Self.chunks(input, &m) { try p.feed(c) { l, _ in lines.append(l) } }
                try p.finish { l, _ in lines.append(l) }
            } catch is PrivacyError { continue }
            var out: [UInt8] = []
            for l in lines { JSONLinesWriter.append(l, to: &out) }
            var again: [[(String, Value)]] = []
            var q = JSONLinesParser()
            try q.feed(out) { l, _ in again.append(l) }
            try q.finish { l, _ in again.append(l) }
            #expect(again.map { $0.map(\.0) } == lines.map { $0.map(\.0) })
            #expect(again.map { $0.map(\.1) } == lines.map { $0.map(\.1) })
        }
    }

    @Test("view files: a ViewSpec or a PrivacyError with a line, never a crash")
    func viewFiles() {
        var m = ByteMutator(state: 0x71E)
        let seed = Array(Self.viewSeed.utf8)
        for _ in 0..<Self.iterations / 4 {
            guard let text = String(validating: m.mutate(seed), as: UTF8.self) else { continue }
            do { _ = try ViewSpec.parse(text) } catch is PrivacyError { continue } catch { Issue.record("\(error)") }
        }
    }

    @Test("the view engine on damaged sources: an output with the view's header, or a PrivacyError")
    func engine() throws {
        var m = ByteMutator(state: 0xE6)
        let spec = try ViewSpec.parse(
            "format: csv\nseparator: \";\"\npatient: nir\ncolumns:\n  nir: pseudonym\n  d: {generalise: month}\n  note: keep\n")
        let keys = PseudonymKeys(secret: SymmetricKey(size: .bits256), project: "p", epoch: 1, dataset: nil)
        let optOut = OptOutFilter(key: SymmetricKey(size: .bits256), hashes: [])
        let seed = Array("nir;note;d\r\n\"1 85\";\"a;\"\"b\"\"\nc\";2020-01-01\r\n2;;2021-12-31\r\n".utf8)
        for _ in 0..<Self.iterations / 2 {
            let input = m.mutate(seed)
            var e = ViewEngine(spec: spec, keys: keys, optOut: optOut)
            var out: [UInt8] = []
            do {
                for c in Self.chunks(input, &m) { try e.feed(c, into: &out) }
                try e.finish(into: &out)
            } catch is PrivacyError { continue }
            let rows = try Self.parseCSV([out[...]], separator: UInt8(ascii: ";"))
            #expect(rows.first == ["nir", "d", "note"])
            #expect(rows.count == e.counts.served + 1)
        }
    }
}
