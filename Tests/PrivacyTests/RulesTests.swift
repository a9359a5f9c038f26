import Crypto
import Foundation
import TestSupport
import Testing

@testable import Privacy

struct PseudonymVectors: Decodable {
    struct Case: Decodable {
        var project: String
        var epoch: UInt32
        var dataset: String?
        var input: String
        var normalised: String
        var pseudonym_key: String
        var pseudonym: String
        var shift_max: Int
        var shift: Int
        var optout_hash: String
    }
    var secret: String
    var normalise: [String]
    var cases: [Case]

    static func load() throws -> PseudonymVectors {
        let url = try #require(Bundle.module.url(forResource: "pseudonym-v1", withExtension: "json", subdirectory: "Vectors"))
        return try JSONDecoder().decode(PseudonymVectors.self, from: Data(contentsOf: url))
    }
}

extension Data {
    init(hex: String) {
        var d = Data()
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { d.append(UInt8(String([a, b]), radix: 16) ?? 0) }
        self = d
    }
}

@Suite("Privacy rules: pseudonyms, generalisations, date shifts")
struct RulesTests {
    @Test("pseudonyms, shifts and opt-out hashes match the vectors computed by Tests/clients/pseudonyms.py")
    func vectors() throws {
        let v = try PseudonymVectors.load()
        let secret = SymmetricKey(data: Data(hex: v.secret))
        let steps = v.normalise.compactMap(Normalisation.init(rawValue:))
        #expect(steps == [.stripSpaces, .upper])
        for c in v.cases {
            let keys = PseudonymKeys(secret: secret, project: c.project, epoch: c.epoch, dataset: c.dataset)
            let n = Normalisation.apply(steps, to: c.input)
            #expect(n == c.normalised)
            #expect(keys.pseudonym.withUnsafeBytes { Data($0) } == Data(hex: c.pseudonym_key))
            #expect(keys.pseudonym(of: n) == c.pseudonym)
            #expect(keys.pseudonym(of: n).count == 32)
            #expect(keys.shiftDays(patient: n, maxDays: c.shift_max) == c.shift)
            #expect(OptOutFilter.hash(c.input, key: PseudonymKeys.optOutKey(secret: secret)) == Data(hex: c.optout_hash))
        }
        // One patient, two spellings: one pseudonym; another project or epoch: another one.
        #expect(v.cases[0].pseudonym == v.cases[1].pseudonym)
        #expect(Set(v.cases[0...4].map(\.pseudonym)).count == 4)
    }

    @Test("the pseudonym is keyed: not the SHA-256 of the identifier, and not its HMAC under another key")
    func keyed() {
        let keys = PseudonymKeys(secret: SymmetricKey(size: .bits256), project: "p", epoch: 1, dataset: nil)
        let id = "1850575123456"
        let plain = Base32.lower(Array(SHA256.hash(data: Data(id.utf8)).prefix(20)))
        #expect(keys.pseudonym(of: id) != plain)
        let other = PseudonymKeys(secret: SymmetricKey(size: .bits256), project: "p", epoch: 1, dataset: nil)
        #expect(keys.pseudonym(of: id) != other.pseudonym(of: id))
    }

    @Test("the pre-keyed HMAC-SHA-256 equals swift-crypto's HMAC, for short and long keys and messages")
    func keyedHMAC() {
        var rng = SplitMix64(state: 7)
        for keySize in [16, 32, 64, 65, 200] {
            let key = SymmetricKey(data: (0..<keySize).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let keyed = KeyedSHA256(key: key)
            for length in [0, 1, 13, 55, 56, 64, 200] {
                let text = String((0..<length).map { _ in Character(Unicode.Scalar(UInt8.random(in: 32...126, using: &rng))) })
                #expect(Data(keyed.mac(text)) == Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
            }
        }
    }

    @Test(
        "French postcodes to départements: Corsica, overseas, invalid",
        arguments: [
            ("75012", "75"), ("01000", "01"), ("13001", "13"), ("20000", "2A"), ("20167", "2A"), ("20190", "2A"),
            ("20200", "2B"), ("20290", "2B"), ("20600", "2B"), ("20620", "2B"), ("97100", "971"), ("97133", "971"),
            ("97200", "972"), ("97300", "973"), ("97411", "974"), ("97600", "976"), ("98800", "988"), (" 75 001 ", "75"),
        ])
    func departements(postcode: String, expected: String) {
        #expect(Generalisation.departement(postcode) == expected)
    }

    @Test("postcodes that are not", arguments: ["2A004", "7501", "750012", "00999", "20800", "96000", "", "7501x"])
    func notPostcodes(text: String) {
        #expect(Generalisation.departement(text) == nil)
    }

    @Test(
        "dates to year, quarter, month and ISO week (week 53, week 1 of the next year, leap days)",
        arguments: [
            ("2024-02-29", DatePart.year, "2024"), ("2024-02-29", .month, "2024-02"), ("2024-02-29", .quarter, "2024-Q1"),
            ("2024-10-01", .quarter, "2024-Q4"), ("2020-12-31", .isoweek, "2020-W53"), ("2021-01-03", .isoweek, "2020-W53"),
            ("2021-01-04", .isoweek, "2021-W01"), ("2019-12-30", .isoweek, "2020-W01"), ("2026-12-31", .isoweek, "2026-W53"),
            ("2027-01-01", .isoweek, "2026-W53"), ("2015-06-15", .isoweek, "2015-W25"), ("2008-12-29T10:00:00", .isoweek, "2009-W01"),
        ])
    func dates(text: String, part: DatePart, expected: String) {
        #expect(Generalisation.date(text, part: part, layout: .iso) == expected)
    }

    @Test("impossible dates are refused, DD/MM/YYYY read where the view says so")
    func badDates() {
        for t in ["2023-02-29", "2024-13-01", "2024-04-31", "24-01-01", "2024/01/01", "2024-01-01x", "0000-01-01"] {
            #expect(Generalisation.date(t, part: .year, layout: .iso) == nil, "\(t)")
        }
        #expect(Generalisation.date("29/02/2024", part: .month, layout: .dmy) == "2024-02")
        #expect(Generalisation.date("2024-02-29", part: .month, layout: .dmy) == nil)
    }

    @Test("day numbers round trip over four centuries, weekdays right")
    func dayNumbers() throws {
        #expect(CalendarDate(year: 1970, month: 1, day: 1)?.dayNumber == 0)
        #expect(CalendarDate(year: 2000, month: 3, day: 1)?.dayNumber == 11017)
        #expect(CalendarDate(year: 2026, month: 12, day: 4)?.isoWeekday == 5)
        for n in stride(from: -150_000, to: 150_000, by: 37) {
            let d = try #require(CalendarDate(dayNumber: n))
            #expect(d.dayNumber == n)
        }
    }

    @Test(
        "numbers into bands, with bottom and top coding",
        arguments: [
            ("3", "[0-5)"), ("0", "[0-5)"), ("5", "[5-10)"), ("7.5", "[5-10)"), ("10", ">=10"), ("99", ">=10"), ("-1", "<0"),
        ])
    func bands(text: String, expected: String) {
        #expect(Generalisation.band(text, edges: [0, 5, 10]) == expected)
    }

    @Test("band edges from a width")
    func widths() {
        #expect(Generalisation.edges(width: 5, min: 0, max: 20) == [0, 5, 10, 15, 20])
        #expect(Generalisation.edges(width: 0, min: 0, max: 20) == nil)
        #expect(Generalisation.band("x", edges: [0, 1]) == nil)
    }

    @Test("normalisation steps in order")
    func normalisation() {
        #expect(Normalisation.apply([.trim], to: "  a b  ") == "a b")
        #expect(Normalisation.apply([.stripSpaces, .upper], to: " 2 91 2a 04 ") == "2912A04")
        #expect(Normalisation.apply([.digits], to: "1-85-05") == "18505")
        #expect(Normalisation.apply([.alnum, .lower], to: "AB-12_c") == "ab12c")
    }

    @Test("a patient's dates move by one offset within ±max, so intervals survive")
    func shifts() throws {
        let keys = PseudonymKeys(secret: SymmetricKey(size: .bits256), project: "p", epoch: 1, dataset: nil)
        var offsets = Set<Int>()
        for i in 0..<2000 {
            let s = keys.shiftDays(patient: "patient-\(i)", maxDays: 15)
            #expect((-15...15).contains(s))
            offsets.insert(s)
        }
        #expect(offsets.count == 31)
    }
}
