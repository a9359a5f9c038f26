import Foundation
import Testing

@testable import S3Protocol

@Suite("Lifecycle configuration")
struct LifecycleTests {
    func parse(_ rules: String) throws(S3Error) -> LifecycleConfiguration {
        try LifecycleConfiguration.parse(Array("<LifecycleConfiguration>\(rules)</LifecycleConfiguration>".utf8))
    }

    func code(_ rules: String) -> S3Error.Code? {
        do {
            _ = try parse(rules)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("parses every action and filter form, and writes them back as S3 returns them")
    func roundTrip() throws {
        let c = try parse(
            """
            <Rule><ID>a</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>\
            <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>1000</ObjectSizeLessThan></And></Filter>\
            <Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>
            <Rule><ID>b</ID><Prefix>old/</Prefix><Status>Disabled</Status><Expiration><Date>2026-01-01T00:00:00.000Z</Date></Expiration>\
            <NoncurrentVersionExpiration><NoncurrentDays>5</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions>\
            </NoncurrentVersionExpiration></Rule>
            <Rule><Filter><Tag><Key>t</Key><Value></Value></Tag></Filter><Status>Enabled</Status>\
            <Expiration><Days>1</Days></Expiration></Rule>
            <Rule><ID>d</ID><Filter/><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>\
            </Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>
            """)
        #expect(c.rules.map(\.id) == ["a", "b", "rule-3", "d"])
        #expect(c.rules[0].filter == LifecycleFilter(prefix: "logs/", tags: [ObjectTag("k", "v")], sizeGreaterThan: 10, sizeLessThan: 1000))
        #expect(c.rules[1].filter.prefix == "old/" && !c.rules[1].filterElement && !c.rules[1].enabled)
        #expect(c.rules[1].expiration?.date == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(c.rules[1].noncurrentExpiration == .init(noncurrentDays: 5, newerNoncurrentVersions: 2))
        #expect(c.rules[3].abortIncompleteUploadDays == 7 && c.rules[3].expiration?.expiredObjectDeleteMarker == true)
        #expect(try LifecycleConfiguration.parse(Array(c.xml.utf8)) == c)
    }

    @Test("refuses what S3 refuses, with S3's codes")
    func refusals() {
        let expire = "<Expiration><Days>1</Days></Expiration>"
        #expect(code("") == .malformedXML)
        #expect(code("<Rule><Status>On</Status>\(expire)</Rule>") == .malformedXML)
        #expect(code("<Rule><Status>Enabled</Status></Rule>") == .invalidArgument)
        #expect(code("<Rule><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>") == .invalidArgument)
        #expect(code("<Rule><Status>Enabled</Status><Expiration><Days>x</Days></Expiration></Rule>") == .malformedXML)
        #expect(
            code("<Rule><Status>Enabled</Status><Expiration><Days>1</Days><Date>2026-01-01T00:00:00Z</Date></Expiration></Rule>") == .malformedXML)
        #expect(code("<Rule><Status>Enabled</Status><Expiration><Date>2026-01-01T10:00:00Z</Date></Expiration></Rule>") == .invalidArgument)
        #expect(code("<Rule><Status>Enabled</Status><Expiration><Date>soon</Date></Expiration></Rule>") == .invalidArgument)
        #expect(
            code("<Rule><ID>x</ID><Status>Enabled</Status>\(expire)</Rule><Rule><ID>x</ID><Status>Enabled</Status>\(expire)</Rule>")
                == .invalidArgument)
        #expect(code("<Rule><Filter><Prefix>a</Prefix></Filter><Prefix>a</Prefix><Status>Enabled</Status>\(expire)</Rule>") == .malformedXML)
        #expect(
            code("<Rule><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>\(expire)</Rule>")
                == .malformedXML)
        #expect(
            code(
                "<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>"
                    + "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>")
                == .invalidArgument)
        #expect(
            code(
                "<Rule><Filter><And><ObjectSizeGreaterThan>9</ObjectSizeGreaterThan><ObjectSizeLessThan>9</ObjectSizeLessThan></And></Filter>"
                    + "<Status>Enabled</Status>\(expire)</Rule>") == .invalidRequest)
        #expect(
            code("<Rule><Status>Enabled</Status><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>")
                == .invalidRequest)
        #expect(code("<Rule><ID>\(String(repeating: "i", count: 256))</ID><Status>Enabled</Status>\(expire)</Rule>") == .invalidArgument)
        #expect(
            code(
                "<Rule><Status>Enabled</Status><NoncurrentVersionExpiration><NewerNoncurrentVersions>101</NewerNoncurrentVersions>"
                    + "</NoncurrentVersionExpiration></Rule>") == .invalidArgument)
    }

    @Test("expiry is the creation time plus the days, rounded up to the next midnight UTC")
    func expiry() throws {
        let written = try #require(ISO8601Date.parse("2026-03-10T15:30:00Z"))
        #expect(LifecycleConfiguration.expiry(of: written, days: 1) == ISO8601Date.parse("2026-03-12T00:00:00Z"))
        let midnight = try #require(ISO8601Date.parse("2026-03-10T00:00:00Z"))
        #expect(LifecycleConfiguration.expiry(of: midnight, days: 1) == ISO8601Date.parse("2026-03-11T00:00:00Z"))
        let c = try parse(
            "<Rule><ID>t</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
                + "<Rule><ID>d</ID><Filter><Prefix>old/</Prefix></Filter><Status>Enabled</Status>"
                + "<Expiration><Date>2026-04-01T00:00:00Z</Date></Expiration></Rule>")
        let due = try #require(ISO8601Date.parse("2026-03-12T00:00:00Z"))
        #expect(c.expiringRule(key: "tmp/x", size: 1, tags: [], lastModified: written, now: due.addingTimeInterval(-1)) == nil)
        #expect(c.expiringRule(key: "tmp/x", size: 1, tags: [], lastModified: written, now: due)?.id == "t")
        #expect(c.expiringRule(key: "other", size: 1, tags: [], lastModified: written, now: due) == nil)
        #expect(c.expiringRule(key: "old/x", size: 1, tags: [], lastModified: written, now: due) == nil)
        #expect(c.expiringRule(key: "old/x", size: 1, tags: [], lastModified: .distantFuture, now: ISO8601Date.parse("2026-04-01")!)?.id == "d")
    }

    @Test("ISO 8601 date-times: Z, offsets, fractions, bare dates; garbage refused")
    func isoDates() {
        #expect(ISO8601Date.parse("1970-01-02T00:00:00Z") == Date(timeIntervalSince1970: 86_400))
        #expect(ISO8601Date.parse("1970-01-02") == Date(timeIntervalSince1970: 86_400))
        #expect(ISO8601Date.parse("1970-01-02T01:00:00+01:00") == Date(timeIntervalSince1970: 86_400))
        #expect(ISO8601Date.parse("1970-01-01T00:00:01.500Z") == Date(timeIntervalSince1970: 1.5))
        for bad in ["", "1970-13-01", "1970-01-01T00:00:00", "1970-01-01T25:00:00Z", "1970-01-01T00:00:00Zx", "1970-01-01T00:00:00.Z"] {
            #expect(ISO8601Date.parse(bad) == nil, "\(bad)")
        }
    }
}
