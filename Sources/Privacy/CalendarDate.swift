/// A proleptic Gregorian calendar date, parsed from `YYYY-MM-DD` (ISO 8601, optionally
/// followed by a time, which rules keep or drop) or `DD/MM/YYYY`, with day arithmetic and ISO
/// weeks. Pure integer arithmetic (days from civil, H. Hinnant's algorithm): no time zone,
/// no `Calendar`, so results do not depend on the machine.
public struct CalendarDate: Sendable, Equatable, Comparable {
    public var year: Int
    public var month: Int
    public var day: Int

    public enum Layout: String, Sendable, Equatable, CaseIterable {
        case iso, dmy
    }

    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...Self.days(inMonth: month, of: year)).contains(day) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The date and what follows it (a time, kept by a shift); nil if `text` is not a date in
    /// `layout`.
    public static func parse(_ text: String, layout: Layout) -> (CalendarDate, suffix: Substring)? {
        let parsed: CalendarDate?? = text.utf8.withContiguousStorageIfAvailable { parse($0, layout: layout) }
        guard let date = parsed ?? Array(text.utf8).withUnsafeBufferPointer({ parse($0, layout: layout) }) else { return nil }
        return (date, Substring(text.utf8.dropFirst(10)))
    }

    static func parse(_ u: UnsafeBufferPointer<UInt8>, layout: Layout) -> CalendarDate? {
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                let b = u[i]
                guard (48...57).contains(b) else { return nil }
                v = v * 10 + Int(b - 48)
            }
            return v
        }
        guard u.count >= 10 else { return nil }
        // A time may follow (`T12:00`, ` 12:00`); anything else is not a date.
        if u.count > 10, u[10] != UInt8(ascii: "T"), u[10] != UInt8(ascii: " ") { return nil }
        switch layout {
        case .iso:
            guard u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), let y = num(0..<4), let m = num(5..<7), let d = num(8..<10) else {
                return nil
            }
            return CalendarDate(year: y, month: m, day: d)
        case .dmy:
            guard u[2] == UInt8(ascii: "/"), u[5] == UInt8(ascii: "/"), let d = num(0..<2), let m = num(3..<5), let y = num(6..<10) else {
                return nil
            }
            return CalendarDate(year: y, month: m, day: d)
        }
    }

    public func formatted(_ layout: Layout) -> String {
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        switch layout {
        case .iso: return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
        case .dmy: return "\(pad(day, 2))/\(pad(month, 2))/\(pad(year, 4))"
        }
    }

    public static func isLeap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    public static func days(inMonth m: Int, of y: Int) -> Int {
        switch m {
        case 2: isLeap(y) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01.
    public var dayNumber: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public init?(dayNumber n: Int) {
        let z = n + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
    }

    /// 1 (Monday) … 7 (Sunday).
    public var isoWeekday: Int {
        let w = (dayNumber + 3) % 7  // 1970-01-01 was a Thursday
        return (w < 0 ? w + 7 : w) + 1
    }

    /// ISO 8601 week-numbering year and week (1…53): the week holding the date's Thursday.
    public var isoWeek: (year: Int, week: Int) {
        guard let thursday = CalendarDate(dayNumber: dayNumber + 4 - isoWeekday) else { return (year, 1) }
        let jan1 = CalendarDate(year: thursday.year, month: 1, day: 1)?.dayNumber ?? thursday.dayNumber
        return (thursday.year, (thursday.dayNumber - jan1) / 7 + 1)
    }

    public static func < (a: CalendarDate, b: CalendarDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
}
