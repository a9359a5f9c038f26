import Foundation

/// Statistical disclosure control of a view's aggregates (docs/privacy.md, with worked
/// examples). Pure; the tables are its input, the cells to mask its output.
///
/// - **Primary**: a cell (margins included) of 1 … `minCell`−1 distinct patients, or of 0 when
///   the view masks zeros.
/// - **Secondary**, to a fixed point over every table of the view at once (a margin two tables
///   share is one cell, so one table cannot publish what the other masks): each *line* (the
///   cells that differ in one dimension, with their total) must not hold exactly one masked
///   cell, and around each primary cell the other masked cells of its line must add up to at
///   least `minCell`, so the line's equation cannot narrow it to less than that. A line that
///   breaks a rule gets one more masked cell: its smallest unmasked non-zero cell that covers
///   the shortfall, else its largest; zeros only when nothing else is left.
public enum Suppression {
    public enum Kind: String, Sendable, Equatable {
        case primary, secondary
    }

    /// A cell of the view's tables: its non-total dimensions, as (column and rule, value).
    public struct Cell: Hashable, Sendable {
        public let dims: [String]
        public let values: [String]
    }

    /// The cell of `table` at `key` (totals are `*`).
    public static func cell(_ table: AggregateTable, _ key: [String]) -> Cell {
        var dims: [String] = []
        var values: [String] = []
        for (g, v) in zip(table.spec.groupBy, key) where v != AggregateTable.total {
            dims.append("\(g.name)|\(g.rule)")
            values.append(v)
        }
        let order = dims.indices.sorted { dims[$0] < dims[$1] }
        return Cell(dims: order.map { dims[$0] }, values: order.map { values[$0] })
    }

    /// The masked cells of `tables` (which share `minCell` and `showZeros` per table).
    public static func suppress(_ tables: [AggregateTable]) -> [Cell: Kind] {
        var value: [Cell: Int] = [:]
        var threshold: [Cell: Int] = [:]
        var masked: [Cell: Kind] = [:]
        var lines: [[Cell]] = []
        for t in tables {
            for key in t.keys {
                let c = cell(t, key)
                let v = t.patients(key)
                value[c] = v
                threshold[c] = max(threshold[c] ?? 0, t.spec.minCell)
                if (v > 0 && v < t.spec.minCell) || (v == 0 && !t.spec.showZeros) { masked[c] = .primary }
            }
            guard t.spec.margins else { continue }
            for (d, dimValues) in t.values.enumerated() {
                // Every assignment of the other dimensions (values or totals) gives one line.
                var others: [[String]] = [[]]
                for (e, vs) in t.values.enumerated() {
                    others = others.flatMap { p in (e == d ? [""] : vs + [AggregateTable.total]).map { p + [$0] } }
                }
                for o in others {
                    lines.append(
                        (dimValues + [AggregateTable.total]).map { v in
                            var k = o
                            k[d] = v
                            return cell(t, k)
                        })
                }
            }
        }
        var changed = true
        while changed {
            changed = false
            for line in lines {
                let hidden = line.filter { masked[$0] != nil }
                guard !hidden.isEmpty else { continue }
                let total = hidden.reduce(0) { $0 + (value[$1] ?? 0) }
                let need = line.map { threshold[$0] ?? 0 }.max() ?? 0
                // The weakest primary cell: the smallest sum of the others masked with it.
                let shortfall = hidden.filter { masked[$0] == .primary }.map { need - (total - (value[$0] ?? 0)) }.max() ?? 0
                guard hidden.count == 1 || shortfall > 0 else { continue }
                let open = line.filter { masked[$0] == nil }.sorted { (value[$0] ?? 0, "\($0)") < (value[$1] ?? 0, "\($1)") }
                let nonZero = open.filter { (value[$0] ?? 0) > 0 }
                guard let pick = nonZero.first(where: { (value[$0] ?? 0) >= shortfall }) ?? nonZero.last ?? open.first else { continue }
                masked[pick] = .secondary
                changed = true
            }
        }
        return masked
    }

    /// A shown count, rounded to `base` (half up) when the view says so.
    public static func rounded(_ v: Int, base: Int?) -> Int {
        guard let base, base > 1 else { return v }
        return (v + base / 2) / base * base
    }
}

/// The published form of an aggregate: CSV (the group columns, `*` for a total, the
/// measures, then `suppressed` saying why a row's measures are empty) or JSON.
public enum AggregateRendering {
    public static func rows(_ t: AggregateTable, masked: [Suppression.Cell: Suppression.Kind]) -> [[(String, Value)]] {
        t.keys.map { key in
            var row: [(String, Value)] = zip(t.spec.groupBy, key).map { ($0.name, .text($1)) }
            let kind = masked[Suppression.cell(t, key)]
            let totals = t.cells[key]
            for (i, m) in t.spec.measures.enumerated() {
                guard kind == nil else {
                    row.append((m.name, .null))
                    continue
                }
                switch m {
                case .patients: row.append((m.name, .number(String(Suppression.rounded(totals?.patients.count ?? 0, base: t.spec.rounding)))))
                case .rows: row.append((m.name, .number(String(Suppression.rounded(totals?.rows ?? 0, base: t.spec.rounding)))))
                case .sum: row.append((m.name, totals.map { .number(number($0.sums[i])) } ?? .number("0")))
                case .mean:
                    if let t = totals, t.counted[i] > 0 {
                        row.append((m.name, .number(number(t.sums[i] / Double(t.counted[i])))))
                    } else {
                        row.append((m.name, .null))
                    }
                }
            }
            row.append(("suppressed", kind.map { .text($0.rawValue) } ?? .text("")))
            return row
        }
    }

    static func number(_ v: Double) -> String {
        let r = (v * 10_000).rounded() / 10_000
        return r == r.rounded() && abs(r) < 1e15 ? String(Int64(r)) : String(r)
    }

    public static func csv(_ t: AggregateTable, masked: [Suppression.Cell: Suppression.Kind]) -> [UInt8] {
        let rows = rows(t, masked: masked)
        var out: [UInt8] = []
        CSVWriter.append(t.spec.groupBy.map(\.name) + t.spec.measures.map(\.name) + ["suppressed"], separator: UInt8(ascii: ","), to: &out)
        for r in rows { CSVWriter.append(r.map(\.1), separator: UInt8(ascii: ","), to: &out) }
        return out
    }

    /// `{"aggregate": NAME, "min_cell": N, "cells": [{…}, …]}`.
    public static func json(_ t: AggregateTable, masked: [Suppression.Cell: Suppression.Kind]) -> [UInt8] {
        var out: [UInt8] = Array("{\"aggregate\":".utf8)
        JSONLinesWriter.appendString(t.spec.name, to: &out)
        out.append(contentsOf: ",\"min_cell\":\(t.spec.minCell),\"cells\":[".utf8)
        for (i, r) in rows(t, masked: masked).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONLinesWriter.append(r, to: &out)
            out.removeLast()  // the line's newline
        }
        out.append(contentsOf: "]}\n".utf8)
        return out
    }
}
