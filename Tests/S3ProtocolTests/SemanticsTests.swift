import Foundation
import Testing

@testable import S3Protocol

@Suite("S3 semantics")
struct SemanticsTests {
    @Test("ranges: a-b, a-, -n, clamping, unsatisfiable, ignored forms")
    func ranges() {
        #expect(ByteRange.parse("bytes=0-9", size: 100) == .partial(.init(start: 0, end: 9)))
        #expect(ByteRange.parse("bytes=90-200", size: 100) == .partial(.init(start: 90, end: 99)))
        #expect(ByteRange.parse("bytes=10-", size: 100) == .partial(.init(start: 10, end: 99)))
        #expect(ByteRange.parse("bytes=-10", size: 100) == .partial(.init(start: 90, end: 99)))
        #expect(ByteRange.parse("bytes=-200", size: 100) == .partial(.init(start: 0, end: 99)))
        #expect(ByteRange.parse("bytes=100-", size: 100) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=100-200", size: 100) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=0-0", size: 0) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=5-1", size: 100) == .whole)
        #expect(ByteRange.parse("bytes=0-1,5-6", size: 100) == .whole)
        #expect(ByteRange.parse("items=0-1", size: 100) == .whole)
        #expect(ByteRange.parse("bytes=x-1", size: 100) == .whole)
    }

    @Test("conditional reads follow RFC 9110 precedence as S3 does")
    func conditions() {
        let etag = "\"abc\""
        let lm = Date(timeIntervalSince1970: 1_000_000)
        let before = lm.addingTimeInterval(-10), after = lm.addingTimeInterval(10)
        #expect(Preconditions(ifMatch: "\"abc\"").evaluate(etag: etag, lastModified: lm) == .proceed)
        #expect(Preconditions(ifMatch: "\"x\"").evaluate(etag: etag, lastModified: lm) == .preconditionFailed)
        #expect(Preconditions(ifMatch: "*").evaluate(etag: etag, lastModified: lm) == .proceed)
        #expect(Preconditions(ifNoneMatch: "\"abc\"").evaluate(etag: etag, lastModified: lm) == .notModified)
        #expect(Preconditions(ifModifiedSince: after).evaluate(etag: etag, lastModified: lm) == .notModified)
        #expect(Preconditions(ifModifiedSince: before).evaluate(etag: etag, lastModified: lm) == .proceed)
        #expect(Preconditions(ifUnmodifiedSince: before).evaluate(etag: etag, lastModified: lm) == .preconditionFailed)
        // If-Match true + If-Unmodified-Since false → 200 (S3 GetObject docs).
        #expect(Preconditions(ifMatch: "\"abc\"", ifUnmodifiedSince: before).evaluate(etag: etag, lastModified: lm) == .proceed)
        // If-None-Match false + If-Modified-Since true → 304.
        #expect(Preconditions(ifNoneMatch: "\"zzz\"", ifModifiedSince: after).evaluate(etag: etag, lastModified: lm) == .proceed)
    }

    @Test("conditional writes: If-None-Match * and If-Match")
    func conditionalWrites() throws {
        try Preconditions(ifNoneMatch: "*").evaluateWrite(currentETag: nil)
        #expect(throws: S3Error.self) { try Preconditions(ifNoneMatch: "*").evaluateWrite(currentETag: "\"a\"") }
        try Preconditions(ifMatch: "\"a\"").evaluateWrite(currentETag: "\"a\"")
        #expect(throws: S3Error.self) { try Preconditions(ifMatch: "\"a\"").evaluateWrite(currentETag: "\"b\"") }
        #expect(throws: S3Error.self) { try Preconditions(ifMatch: "\"a\"").evaluateWrite(currentETag: nil) }
    }

    @Test(
        "bucket names",
        arguments: [
            ("abc", true), ("my-bucket.data", true), ("ab", false), ("ABC", false), ("-abc", false), ("abc-", false),
            ("a..b", false), ("a.-b", false), ("192.168.1.1", false), ("xn--abc", false), ("abc-s3alias", false),
            (String(repeating: "a", count: 63), true), (String(repeating: "a", count: 64), false), ("a_b", false),
        ])
    func bucketNames(_ c: (String, Bool)) {
        #expect((Names.bucketNameProblem(c.0) == nil) == c.1, "\(c.0)")
    }

    @Test("keys: up to 1024 bytes of UTF-8, no NUL")
    func keys() {
        #expect(Names.keyProblem(String(repeating: "é", count: 512)) == nil)
        #expect(Names.keyProblem(String(repeating: "é", count: 513))?.code == .keyTooLong)
        #expect(Names.keyProblem("a\u{0}b") != nil)
        #expect(Names.keyProblem("../../etc/passwd") == nil)  // legal S3 key; never a path here
    }

    @Test("operation classification")
    func classify() throws {
        func op(_ m: String, _ b: String?, _ k: String?, _ q: [(String, String)] = [], copy: Bool = false) throws -> S3Operation {
            try S3Operation.classify(method: m, bucket: b, key: k, query: q, headers: { $0 == "x-amz-copy-source" && copy ? "b/k" : nil })
        }
        #expect(try op("GET", nil, nil) == .listBuckets)
        #expect(try op("GET", "b", nil, [("list-type", "2")]) == .listObjectsV2)
        #expect(try op("POST", "b", nil, [("delete", "")]) == .deleteObjects)
        #expect(try op("PUT", "b", "k", [("partNumber", "1"), ("uploadId", "u")], copy: true) == .uploadPartCopy)
        #expect(try op("PUT", "b", "k", copy: true) == .copyObject)
        #expect(try op("POST", "b", "k", [("uploads", "")]) == .createMultipartUpload)
        #expect(try op("GET", "b", nil, [("versions", "")]) == .listObjectVersions)
        #expect(try op("GET", "b", nil, [("acl", "")]) == .getBucketAcl)
        #expect(try op("PUT", "b", nil, [("acl", "")]) == .putBucketAcl)
        #expect(try op("GET", "b", "k", [("acl", "")]) == .getObjectAcl)
        #expect(try op("PUT", "b", "k", [("acl", "")]) == .putObjectAcl)
        #expect(try op("GET", "b", "k", [("tagging", "")]) == .getObjectTagging)
        #expect(try op("DELETE", "b", "k", [("tagging", "")]) == .deleteObjectTagging)
        #expect(try op("PUT", "b", nil, [("tagging", "")]) == .putBucketTagging)
        #expect(try op("DELETE", "b", nil, [("tagging", "")]) == .deleteBucketTagging)
        #expect(try op("GET", "b", "k", [("retention", "")]) == .getObjectRetention)
        #expect(try op("PUT", "b", "k", [("legal-hold", "")]) == .putObjectLegalHold)
        #expect(try op("PUT", "b", nil, [("object-lock", "")]) == .putObjectLockConfiguration)
        #expect(try op("PUT", "b", nil, [("versioning", "")]) == .putBucketVersioning)
        for (method, key, name) in [("DELETE", "k", "retention"), ("GET", nil, "retention"), ("PUT", nil, "legal-hold"), ("GET", "k", "object-lock")]
        {
            #expect(throws: S3Error.self) { try op(method, "b", key, [(name, "")]) }
        }
        #expect(throws: S3Error.self) { try op("GET", "b", "k", [("website", "")]) }
        #expect(throws: S3Error.self) { try op("PATCH", "b", "k") }
    }

    @Test("version ids: null, or 16 hex digits of a catalog version; the empty and any other id are InvalidArgument")
    func versionIDs() throws {
        #expect(try VersionID.parse(nil) == nil)
        #expect(try VersionID.parse("null") == .null)
        let id = VersionID.id(1_733_280_000_123_456)
        #expect(id.description.count == 16)
        #expect(try VersionID.parse(id.description) == id)
        #expect(VersionID(version: 7, versioned: false) == .null)
        #expect(VersionID(version: 7, versioned: true).description == "0000000000000007")
        let bad = ["", "NULL", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "0000000000000000", "000000000000000G", "00000000000000007", "ffffffffffffffff"]
        for raw in bad {
            #expect(throws: S3Error.self) { try VersionID.parse(raw) }
            do {
                _ = try VersionID.parse(raw)
            } catch {
                #expect(error.code == .invalidArgument)
            }
        }
        let copy = try CopySource.location("/b/k%20x?versionId=null")
        #expect(copy.bucket == "b" && copy.key == "k x" && copy.version == .null)
        #expect(try CopySource.location("b/k?versionId=\(id)").version == id)
        #expect(try CopySource.location("b/k").version == nil)
        #expect(throws: S3Error.self) { try CopySource.location("b/k?versionId=v1") }
    }

    @Test("versioning configuration: Enabled or Suspended; MFA delete refused; anything else MalformedXML")
    func versioningConfiguration() throws {
        func parse(_ s: String) throws(S3Error) -> VersioningState? { try VersioningState.parse(Array(s.utf8)) }
        let ns = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
        #expect(try parse("<VersioningConfiguration \(ns)><Status>Enabled</Status></VersioningConfiguration>") == .enabled)
        #expect(
            try parse("<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>") == .suspended)
        #expect(try parse("<VersioningConfiguration/>") == nil)
        for (doc, code) in [
            ("<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>", S3Error.Code.malformedXML),
            ("<VersioningConfiguration><Status>Enabled</Status><Other/></VersioningConfiguration>", .malformedXML),
            ("<Versioning><Status>Enabled</Status></Versioning>", .malformedXML),
            ("<VersioningConfiguration><Status>Enabled", .malformedXML),
            ("<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>", .invalidRequest),
        ] {
            do {
                _ = try parse(doc)
                Issue.record("accepted \(doc)")
            } catch {
                #expect(error.code == code)
            }
        }
    }

    @Test("object lock: who may delete, retention changes, documents and headers")
    func objectLock() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let later = now.addingTimeInterval(3600)
        let governance = ObjectLockState(retention: Retention(mode: .governance, until: later))
        let compliance = ObjectLockState(retention: Retention(mode: .compliance, until: later))
        #expect(governance.refusal(now: now, bypassGovernance: false) != nil)
        #expect(governance.refusal(now: now, bypassGovernance: true) == nil)
        #expect(compliance.refusal(now: now, bypassGovernance: true) != nil)
        #expect(compliance.refusal(now: later.addingTimeInterval(1), bypassGovernance: false) == nil)
        #expect(ObjectLockState(legalHold: true).refusal(now: now, bypassGovernance: true) != nil)
        // COMPLIANCE: extended only; GOVERNANCE: shortened or removed with the bypass.
        #expect(throws: S3Error.self) { try compliance.checkRetentionChange(to: nil, now: now, bypassGovernance: true) }
        #expect(throws: S3Error.self) {
            try compliance.checkRetentionChange(
                to: Retention(mode: .governance, until: later.addingTimeInterval(60)), now: now, bypassGovernance: true)
        }
        try compliance.checkRetentionChange(to: Retention(mode: .compliance, until: later.addingTimeInterval(60)), now: now, bypassGovernance: false)
        #expect(throws: S3Error.self) { try governance.checkRetentionChange(to: nil, now: now, bypassGovernance: false) }
        try governance.checkRetentionChange(to: nil, now: now, bypassGovernance: true)
        try governance.checkRetentionChange(to: Retention(mode: .compliance, until: later), now: now, bypassGovernance: false)
        // Documents.
        let config = try ObjectLockConfiguration.parse(Array(ObjectLockConfiguration(defaultRetention: .init(mode: .governance, years: 2)).xml.utf8))
        #expect(config.defaultRetention == .init(mode: .governance, years: 2))
        #expect(config.defaultRetention(at: now)?.until == now.addingTimeInterval(730 * 86_400))
        #expect(
            try ObjectLock.parseRetention(Array(ObjectLock.retentionXML(Retention(mode: .compliance, until: later)).utf8), now: now)?.mode
                == .compliance)
        #expect(try ObjectLock.parseRetention(Array("<Retention/>".utf8), now: now) == nil)
        #expect(throws: S3Error.self) {
            try ObjectLock.parseRetention(Array(ObjectLock.retentionXML(Retention(mode: .compliance, until: now)).utf8), now: later)
        }
        #expect(try ObjectLock.parseLegalHold(Array(ObjectLock.legalHoldXML(true).utf8)))
        #expect(throws: S3Error.self) { try ObjectLock.parseLegalHold(Array("<LegalHold><Status>on</Status></LegalHold>".utf8)) }
        // Headers: mode and date together; legal hold ON or OFF.
        func headers(_ h: [String: String]) throws(S3Error) -> ObjectLockState? { try ObjectLock.requested({ h[$0] }, now: now) }
        #expect(try headers([:]) == nil)
        #expect(try headers(["x-amz-object-lock-legal-hold": "ON"]) == ObjectLockState(legalHold: true))
        #expect(
            try headers(["x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": "2030-01-01T00:00:00.000Z"])?.retention?.mode
                == .governance)
        #expect(throws: S3Error.self) { try headers(["x-amz-object-lock-mode": "GOVERNANCE"]) }
        #expect(throws: S3Error.self) { try headers(["x-amz-object-lock-mode": "WORM", "x-amz-object-lock-retain-until-date": "2030-01-01"]) }
        #expect(throws: S3Error.self) { try headers(["x-amz-object-lock-legal-hold": "yes"]) }
    }

    @Test("metadata beyond ASCII: RFC 2047 encoded-words decoded on the way in, one B word on the way out")
    func metadataEncoding() {
        #expect(MetadataEncoding.decode("=?UTF-8?B?T3Jsw6lhbnM=?=") == "Orléans")
        #expect(MetadataEncoding.decode("=?utf-8?q?Orl=C3=A9ans_x?=") == "Orléans x")
        #expect(MetadataEncoding.decode("a =?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?= b") == "a éé b")
        for kept in ["plain", "=?", "=?UTF-8?X?abc?=", "=?ISO-8859-1?Q?a?=", "=?UTF-8?B?!!!?=", "=?UTF-8?Q?=ZZ?=", "x =?UTF-8?B?w6k"] {
            #expect(MetadataEncoding.decode(kept) == kept)
        }
        #expect(MetadataEncoding.encode("plain text") == "plain text")
        #expect(MetadataEncoding.encode("Orléans") == "=?UTF-8?B?T3Jsw6lhbnM=?=")
        #expect(MetadataEncoding.decode(MetadataEncoding.encode("✓ line\nbreak")) == "✓ line\nbreak")
    }

    @Test("tag sets: the x-amz-tagging header and the Tagging document, within S3's limits")
    func tagSets() throws {
        #expect(
            try Tagging.parseHeader("a=1&b=two%20words&c=x+y&empty=") == [
                ObjectTag("a", "1"), ObjectTag("b", "two words"), ObjectTag("c", "x y"), ObjectTag("empty", ""),
            ])
        #expect(try Tagging.parseHeader("") == [])
        let tags = [ObjectTag("k é", "v:/@=+-._"), ObjectTag("n", "")]
        #expect(try Tagging.parseXML(Array(Tagging.xml(tags).utf8), limit: 10) == tags)
        func refusal(_ body: () throws -> Void) -> S3Error.Code? {
            do {
                try body()
                return nil
            } catch let e as S3Error {
                return e.code
            } catch {
                return nil
            }
        }
        let eleven = (0..<11).map { ObjectTag("k\($0)", "v") }
        #expect(refusal { try Tagging.validate(eleven, limit: Tagging.maxObjectTags) } == .badRequest)
        #expect(refusal { try Tagging.validate(eleven, limit: Tagging.maxBucketTags) } == nil)
        #expect(refusal { _ = try Tagging.parseHeader("a=1&a=2") } == .invalidTag)
        #expect(refusal { _ = try Tagging.parseHeader("=v") } == .invalidTag)
        #expect(refusal { _ = try Tagging.parseHeader("aws:x=v") } == .invalidTag)
        #expect(refusal { _ = try Tagging.parseHeader("k=%ZZ") } == .invalidArgument)
        #expect(refusal { try Tagging.validate([ObjectTag(String(repeating: "k", count: 129), "v")], limit: 10) } == .invalidTag)
        #expect(refusal { try Tagging.validate([ObjectTag("k", String(repeating: "v", count: 257))], limit: 10) } == .invalidTag)
        #expect(
            refusal { try Tagging.validate([ObjectTag(String(repeating: "é", count: 128), String(repeating: "v", count: 256))], limit: 10) } == nil)
        #expect(refusal { try Tagging.validate([ObjectTag("k", "a*b")], limit: 10) } == .invalidTag)
        #expect(
            refusal { _ = try Tagging.parseXML(Array("<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>".utf8), limit: 10) }
                == .malformedXML)
        #expect(refusal { _ = try Tagging.parseXML(Array("<Tagging>".utf8), limit: 10) } == .malformedXML)
    }

    @Test("ACLs: the owner's full control, canned or as a policy; every other grant refused")
    func acls() throws {
        func headers(_ h: [String: String]) -> (String) -> String? { { h[$0] } }
        #expect(try ACL.checkHeaders(headers([:])) == false)
        #expect(try ACL.checkHeaders(headers(["x-amz-acl": "private"])) == true)
        #expect(try ACL.checkHeaders(headers(["x-amz-acl": "bucket-owner-full-control"])) == true)
        for h in [["x-amz-acl": "public-read"], ["x-amz-grant-read": "id=other"], ["x-amz-acl": "private", "x-amz-grant-write": "id=x"]] {
            #expect(throws: S3Error.self) { try ACL.checkHeaders(headers(h)) }
        }
        let policy = ACL.policy(owner: "o")
        try ACL.checkPolicy(Array(policy.utf8), owner: "o")
        #expect(policy.contains(#"xsi:type="CanonicalUser""#))
        #expect(throws: S3Error.self) { try ACL.checkPolicy(Array(policy.utf8), owner: "someone-else") }
        let group =
            #"<AccessControlPolicy><AccessControlList><Grant><Grantee><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>"#
            + "</Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"
        do {
            try ACL.checkPolicy(Array(group.utf8), owner: "o")
            Issue.record("a group grant was accepted")
        } catch {
            #expect(error.code == .accessControlListNotSupported)
        }
        do {
            try ACL.checkPolicy(Array("<AccessControlPolicy><Owner>".utf8), owner: "o")
            Issue.record("a truncated policy was accepted")
        } catch {
            #expect(error.code == .malformedACLError)
        }
    }

    @Test("ListBuckets pages: prefix, region, byte order, a token that resumes after the last name")
    func bucketPages() throws {
        let all = [("b", "r1"), ("a", "r1"), ("ab", "r2"), ("c", "r1"), ("B", "r1")]
        let first = try BucketPage(maxBuckets: "2", continuationToken: nil, prefix: nil, region: nil)
        let (p1, t1) = first.select(all) { $0 }
        #expect(p1.map(\.0) == ["B", "a"])
        let (p2, t2) = try BucketPage(maxBuckets: "2", continuationToken: t1, prefix: nil, region: nil).select(all) { $0 }
        #expect(p2.map(\.0) == ["ab", "b"])
        let (p3, t3) = try BucketPage(maxBuckets: "2", continuationToken: t2, prefix: nil, region: nil).select(all) { $0 }
        #expect(p3.map(\.0) == ["c"] && t3 == nil)
        let (r1, _) = try BucketPage(maxBuckets: nil, continuationToken: nil, prefix: "a", region: "r1").select(all) { $0 }
        #expect(r1.map(\.0) == ["a"])
        for bad in ["0", "10001", "-1", "x"] {
            #expect(throws: S3Error.self) { try BucketPage(maxBuckets: bad, continuationToken: nil, prefix: nil, region: nil) }
        }
        #expect(throws: S3Error.self) { try BucketPage(maxBuckets: nil, continuationToken: "", prefix: nil, region: nil) }
        #expect(throws: S3Error.self) { try BucketPage(maxBuckets: nil, continuationToken: "!!", prefix: nil, region: nil) }
    }

    @Test("HTTP dates round-trip and the obsolete forms parse")
    func dates() {
        let d = Date(timeIntervalSince1970: 784_111_777)
        #expect(HTTPDate.format(d) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == d)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == d)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == d)
        #expect(HTTPDate.iso8601(d) == "1994-11-06T08:49:37.000Z")
        #expect(AmzDate.format(d) == "19941106T084937Z")
        #expect(AmzDate.parse("19941106T084937Z") == d)
        #expect(AmzDate.parse("19941306T084937Z") == nil)
        #expect(HTTPDate.parse("garbage") == nil)
    }
}
