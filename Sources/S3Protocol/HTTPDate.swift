import Foundation

/// RFC 7231 §7.1.1.1 dates (`Last-Modified`, `If-Modified-Since`, `Expires`), and the ISO 8601
/// form S3 uses in XML (`2009-10-12T17:50:30.000Z`). Hand-written: no formatter state, no locale.
public enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func parts(_ date: Date) -> (y: Int, mo: Int, d: Int, h: Int, mi: Int, s: Int, ms: Int, wd: Int) {
        let t = date.timeIntervalSince1970
        let secs = Int64(t.rounded(.down))
        let ms = Int(((t - Double(secs)) * 1000).rounded(.down))
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 {
            rem += 86_400
            days -= 1
        }
        // Civil-from-days (H. Hinnant), proleptic Gregorian.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        let wd = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday
        return (Int(y), Int(m), Int(d), Int(rem / 3600), Int(rem % 3600 / 60), Int(rem % 60), ms, wd)
    }

    static func pad(_ v: Int, _ w: Int) -> String {
        let s = String(v)
        return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    public static func format(_ date: Date) -> String {
        let p = parts(date)
        return "\(days[p.wd]), \(pad(p.d, 2)) \(months[p.mo - 1]) \(pad(p.y, 4)) \(pad(p.h, 2)):\(pad(p.mi, 2)):\(pad(p.s, 2)) GMT"
    }

    /// `2009-10-12T17:50:30.000Z`
    public static func iso8601(_ date: Date) -> String {
        let p = parts(date)
        return "\(pad(p.y, 4))-\(pad(p.mo, 2))-\(pad(p.d, 2))T\(pad(p.h, 2)):\(pad(p.mi, 2)):\(pad(p.s, 2)).\(pad(p.ms, 3))Z"
    }

    /// Days since 1970-01-01 of a civil date.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Parses IMF-fixdate, and the obsolete RFC 850 and asctime forms RFC 7231 says to accept.
    public static func parse(_ text: String) -> Date? {
        let tokens = text.replacingOccurrences(of: ",", with: " ").split(separator: " ").map(String.init)
        var day: Int?, month: Int?, year: Int?, time: [Int]?
        for tok in tokens {
            if let m = months.firstIndex(of: tok) {
                month = m + 1
            } else if tok.contains(":") {
                let t = tok.split(separator: ":").compactMap { Int($0) }
                guard t.count == 3 else { return nil }
                time = t
            } else if tok.contains("-") {
                // RFC 850: 06-Nov-94
                let dm = tok.split(separator: "-")
                guard dm.count == 3, let d = Int(dm[0]), let m = months.firstIndex(of: String(dm[1])), let y = Int(dm[2]) else { return nil }
                day = d
                month = m + 1
                year = y < 100 ? (y < 70 ? 2000 + y : 1900 + y) : y
            } else if let n = Int(tok) {
                if n > 31 { year = n } else { day = n }
            }
        }
        guard let d = day, let m = month, let y = year, let t = time,
            (1...31).contains(d), t[0] < 24, t[1] < 60, t[2] < 61
        else { return nil }
        let secs = daysFromCivil(y, m, d) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
        return Date(timeIntervalSince1970: TimeInterval(secs))
    }
}
