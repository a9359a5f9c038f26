import Testing

@testable import Privacy

@Suite("Aggregates: primary and secondary suppression")
struct SuppressionTests {
    /// A table from its cell counts: one distinct patient per count.
    static func table(_ counts: [String: [String: Int]], spec: AggregateSpec) throws -> AggregateTable {
        var b = AggregateBuilder(spec: spec, dateLayout: .iso)
        var n = 0
        for (r, row) in counts {
            for (c, count) in row {
                for _ in 0..<count {
                    n += 1
                    try b.add(patient: "p\(n)", groups: [.text(r), .text(c)], measures: [.text("2")], line: n)
                }
            }
        }
        return b.table
    }

    static let spec = AggregateSpec(name: "t", groupBy: [("region", .keep), ("group", .keep)], measures: [.patients, .sum("cost")])

    /// The worked example of docs/privacy.md: primary suppression alone would leak r1/A
    /// through the row total (55 − 20 − 30 = 5).
    static let example = ["r1": ["A": 5, "B": 20, "C": 30], "r2": ["A": 40, "B": 25, "C": 35], "r3": ["A": 15, "B": 18, "C": 22]]

    @Test("a small cell and its total: masked together with the cells that protect it, to a fixed point")
    func worked() throws {
        let t = try Self.table(Self.example, spec: Self.spec)
        #expect(t.patients(["r1", "*"]) == 55 && t.patients(["*", "*"]) == 210)
        let masked = Suppression.suppress([t])
        func kind(_ r: String, _ c: String) -> Suppression.Kind? { masked[Suppression.cell(t, [r, c])] }
        #expect(kind("r1", "A") == .primary)
        #expect(kind("r1", "B") == .secondary && kind("r3", "A") == .secondary && kind("r3", "B") == .secondary)
        #expect(masked.count == 4)
        // No line (row or column, totals included) has exactly one masked cell.
        for r in ["r1", "r2", "r3", "*"] {
            #expect((["A", "B", "C", "*"].filter { kind(r, $0) != nil }.count) != 1)
        }
        for c in ["A", "B", "C", "*"] {
            #expect((["r1", "r2", "r3", "*"].filter { kind($0, c) != nil }.count) != 1)
        }
        let csv = String(decoding: AggregateRendering.csv(t, masked: masked), as: UTF8.self)
        #expect(csv.hasPrefix("region,group,patients,sum_cost,suppressed\n"))
        #expect(csv.contains("r1,A,,,primary\n") && csv.contains("r1,C,30,60,\n") && csv.contains("*,*,210,420,\n"))
    }

    @Test("two small cells in one line are not enough when their sum is below the threshold")
    func smallPair() throws {
        let t = try Self.table(["r1": ["A": 2, "B": 3, "C": 50], "r2": ["A": 40, "B": 45, "C": 60]], spec: Self.spec)
        let masked = Suppression.suppress([t])
        let row = ["A", "B", "C", "*"].filter { masked[Suppression.cell(t, ["r1", $0])] != nil }
        // 2 + 3 < 11: a third cell of the row is masked, so r1/A is not pinned to 0…5.
        #expect(row.count >= 3)
    }

    @Test("a margin two aggregates share is masked in both or in neither")
    func shared() throws {
        let a = try Self.table(Self.example, spec: Self.spec)
        var other = Self.spec
        other.name = "u"
        let b = try Self.table(["r1": ["X": 55], "r2": ["X": 100], "r3": ["X": 55]], spec: other)
        let masked = Suppression.suppress([a, b])
        for r in ["r1", "r2", "r3"] {
            #expect((masked[Suppression.cell(a, [r, "*"])] == nil) == (masked[Suppression.cell(b, [r, "*"])] == nil))
        }
    }

    @Test("zeros shown or masked as the view says; counts rounded to a base")
    func zerosAndRounding() throws {
        var spec = Self.spec
        spec.showZeros = false
        let t = try Self.table(["r1": ["A": 30, "B": 20], "r2": ["A": 12]], spec: spec)
        #expect(t.patients(["r2", "B"]) == 0)
        #expect(Suppression.suppress([t])[Suppression.cell(t, ["r2", "B"])] == .primary)
        #expect(Suppression.rounded(12, base: 5) == 10 && Suppression.rounded(13, base: 5) == 15 && Suppression.rounded(0, base: 5) == 0)
    }

    @Test("the aggregate part of a view file")
    func parse() throws {
        let spec = try ViewSpec.parse(
            """
            format: csv
            patient: nir
            columns:
              nir: pseudonym
            aggregates:
              - name: by_sex_year
                group_by: {sex: keep, birth_date: {generalise: year}}
                measures: [patients, rows, {sum: cost}, {mean: cost}]
                suppression: nhs
            """)
        let a = try #require(spec.aggregates.first)
        #expect(a.minCell == 8 && a.rounding == 5 && a.groupBy.map(\.name) == ["sex", "birth_date"])
        #expect(spec.sourceColumns == ["nir", "sex", "birth_date", "cost"])
        #expect(throws: PrivacyError.self) {
            try ViewSpec.parse(
                "format: csv\npatient: nir\ncolumns:\n  nir: pseudonym\naggregates:\n  - name: x\n    group_by: {nir: pseudonym}\n    measures: [rows]\n"
            )
        }
    }
}
