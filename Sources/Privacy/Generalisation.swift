/// The value rules that need no key: generalisations of dates, numbers, postcodes and codes.
/// Each returns nil for a value it cannot read, and the transform fails closed on that (a
/// value it cannot generalise is never served as is).
public enum Generalisation {
    public static func date(_ text: String, part: DatePart, layout: CalendarDate.Layout) -> String? {
        guard let (d, _) = CalendarDate.parse(text, layout: layout) else { return nil }
        let y = d.formatted(.iso).prefix(4)
        switch part {
        case .year: return String(y)
        case .quarter: return "\(y)-Q\((d.month - 1) / 3 + 1)"
        case .month: return String(d.formatted(.iso).prefix(7))
        case .isoweek:
            let (wy, w) = d.isoWeek
            let wys = CalendarDate(year: wy, month: 1, day: 1)?.formatted(.iso).prefix(4) ?? Substring(String(wy))
            return "\(wys)-W\(w < 10 ? "0" : "")\(w)"
        }
    }

    /// `[a,b)` for a value in a band, `<first` and `>=last` for the bottom and top codes.
    public static func band(_ text: String, edges: [Double]) -> String? {
        guard let v = Double(text.trimmingPrefix(" ")), v.isFinite, let first = edges.first, let last = edges.last else { return nil }
        if v < first { return "<\(number(first))" }
        if v >= last { return ">=\(number(last))" }
        for (a, b) in zip(edges, edges.dropFirst()) where v >= a && v < b {
            return "[\(number(a))-\(number(b)))"
        }
        return nil
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    /// Bands of `width` from `min` to `max` (top and bottom coded outside).
    public static func edges(width: Double, min: Double, max: Double) -> [Double]? {
        guard width > 0, max > min, (max - min) / width <= 10_000 else { return nil }
        var e: [Double] = []
        var v = min
        while v < max {
            e.append(v)
            v += width
        }
        e.append(max)
        return e
    }

    /// The département of a French postcode (five digits): its first two digits, except Corsica
    /// (20000–20199 → 2A Corse-du-Sud, 20200–20699 → 2B Haute-Corse, La Poste's ranges) and the
    /// overseas départements and collectivities, whose codes have three digits (971–978, 984–988).
    public static func departement(_ text: String) -> String? {
        var digits: [UInt8] = []
        for b in text.utf8 where !(b == 0x20 || (0x09...0x0D).contains(b)) {
            guard (48...57).contains(b), digits.count < 5 else { return nil }
            digits.append(b)
        }
        guard digits.count == 5 else { return nil }
        let n = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        let t = String(decoding: digits, as: UTF8.self)
        switch n {
        case 20000..<20200: return "2A"
        case 20200..<20700: return "2B"
        case 20700..<21000, 96000..<97000: return nil
        case 97000..<100000: return String(t.prefix(3))
        case ..<1000: return nil
        default: return String(t.prefix(2))
        }
    }

    public static func prefix(_ text: String, length: Int) -> String { String(text.prefix(length)) }
}
