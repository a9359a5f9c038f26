import Foundation
import Testing

@testable import S3Protocol

struct SigV4Vectors: Decodable {
    struct HeaderCase: Decodable {
        var name: String
        var method: String
        var path: String
        var query: [[String]]
        var headers: [[String]]
        var signedHeaders: [String]
        var signature: String
        var body: String?
    }
    struct Presigned: Decodable {
        var method: String
        var path: String
        var query: [[String]]
        var headers: [[String]]
    }
    struct Chunked: Decodable {
        var timestamp: String
        var seedSignature: String
        var chunkSizes: [Int]
        var chunkSignatures: [String]
    }
    var secret: String
    var accessKey: String
    var header: [HeaderCase]
    var presigned: Presigned
    var chunked: Chunked

    static func load() throws -> SigV4Vectors {
        let url = try #require(Bundle.module.url(forResource: "sigv4-s3", withExtension: "json", subdirectory: "Vectors"))
        return try JSONDecoder().decode(SigV4Vectors.self, from: Data(contentsOf: url))
    }
}

func pairs(_ a: [[String]]) -> [(String, String)] { a.map { ($0[0], $0[1]) } }

/// A header-signed vector request with its Authorization header (separator `", "` or `","`).
func signedVectorRequest(_ v: SigV4Vectors.HeaderCase, accessKey: String, separator: String = ",") -> SignableRequest {
    var headers = pairs(v.headers)
    let parts = [
        "AWS4-HMAC-SHA256 Credential=\(accessKey)/20130524/us-east-1/s3/aws4_request",
        "SignedHeaders=\(v.signedHeaders.joined(separator: ";"))", "Signature=\(v.signature)",
    ]
    headers.append(("authorization", parts.joined(separator: separator)))
    return SignableRequest(method: v.method, path: v.path, query: pairs(v.query), headers: headers)
}

let vectorDate = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

@Suite("SigV4")
struct SigV4Tests {
    @Test("reproduces the AWS S3 header-signature examples", arguments: try SigV4Vectors.load().header)
    func headerVectors(_ v: SigV4Vectors.HeaderCase) throws {
        let vectors = try SigV4Vectors.load()
        let request = signedVectorRequest(v, accessKey: vectors.accessKey)
        let verified = try SigV4Verifier(region: "us-east-1").verify(request, now: vectorDate) { $0 == vectors.accessKey ? vectors.secret : nil }
        #expect(verified.accessKey == vectors.accessKey)
        #expect(verified.signature == v.signature)
        if let body = v.body {
            #expect(verified.payload == .signed(sha256Hex: SigV4.sha256Hex(body)))
        }
    }

    @Test("a wrong secret, a changed header or a changed path fails with SignatureDoesNotMatch")
    func tampering() throws {
        let vectors = try SigV4Vectors.load()
        let good = signedVectorRequest(vectors.header[0], accessKey: vectors.accessKey, separator: ", ")
        #expect(throws: S3Error.self) { try SigV4Verifier(region: "us-east-1").verify(good, now: vectorDate) { _ in "wrong" } }
        var changedHeader = good
        changedHeader.headers[1] = ("range", "bytes=0-10")
        #expect(throws: SigV4Verifier.mismatch) {
            try SigV4Verifier(region: "us-east-1").verify(changedHeader, now: vectorDate) { _ in vectors.secret }
        }
        var changedPath = good
        changedPath.path = "/test.txt2"
        #expect(throws: SigV4Verifier.mismatch) {
            try SigV4Verifier(region: "us-east-1").verify(changedPath, now: vectorDate) { _ in vectors.secret }
        }
        let unknown = try? SigV4Verifier(region: "us-east-1").verify(good, now: vectorDate) { _ in nil }
        #expect(unknown == nil)
        do {
            _ = try SigV4Verifier(region: "us-east-1").verify(good, now: vectorDate) { _ in nil }
        } catch {
            #expect(error.code == .invalidAccessKeyId)
        }
    }

    @Test("clock skew beyond 15 minutes is RequestTimeTooSkewed")
    func skew() throws {
        let vectors = try SigV4Vectors.load()
        let r = signedVectorRequest(vectors.header[0], accessKey: vectors.accessKey)
        _ = try SigV4Verifier(region: "us-east-1").verify(r, now: vectorDate.addingTimeInterval(14 * 60)) { _ in vectors.secret }
        do {
            _ = try SigV4Verifier(region: "us-east-1").verify(r, now: vectorDate.addingTimeInterval(16 * 60)) { _ in vectors.secret }
            Issue.record("accepted a skewed request")
        } catch {
            #expect(error.code == .requestTimeTooSkewed)
        }
    }

    @Test(
        "malformed Authorization headers are AuthorizationHeaderMalformed, never a crash",
        arguments: [
            "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=a", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=Host, Signature=00",
        ])
    func malformed(_ header: String) {
        #expect(throws: S3Error.self) { _ = try SigV4Authorization.parse(header: header) }
    }

    @Test("presigned URL: the AWS example verifies, then expires")
    func presigned() throws {
        let vectors = try SigV4Vectors.load()
        let p = vectors.presigned
        let r = SignableRequest(method: p.method, path: p.path, query: pairs(p.query), headers: pairs(p.headers))
        let ok = try SigV4Verifier(region: "us-east-1").verify(r, now: vectorDate.addingTimeInterval(3600)) { _ in vectors.secret }
        #expect(ok.presigned)
        #expect(ok.payload == .unsigned)
        do {
            _ = try SigV4Verifier(region: "us-east-1").verify(r, now: vectorDate.addingTimeInterval(86_401)) { _ in vectors.secret }
            Issue.record("accepted an expired URL")
        } catch {
            #expect(error.code == .accessDenied)
            #expect(error.message == "Request has expired")
        }
        var tooLong = r
        tooLong.query = tooLong.query.map { $0.0 == "X-Amz-Expires" ? ($0.0, "604801") : $0 }
        #expect(throws: S3Error.self) { try SigV4Verifier(region: "us-east-1").verify(tooLong, now: vectorDate) { _ in vectors.secret } }
        // Zero seconds: expired on arrival (403); negative: a malformed query (400), as AWS answers them.
        for (expires, code, message) in [
            ("0", S3Error.Code.accessDenied, "Request has expired"),
            ("-1", .authorizationQueryParametersError, "X-Amz-Expires must be non-negative"),
            ("604801", .authorizationQueryParametersError, "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
            ("soon", .authorizationQueryParametersError, "X-Amz-Expires should be a number"),
        ] {
            var changed = r
            changed.query = changed.query.map { $0.0 == "X-Amz-Expires" ? ($0.0, expires) : $0 }
            do {
                _ = try SigV4Verifier(region: "us-east-1").verify(changed, now: vectorDate) { _ in vectors.secret }
                Issue.record("accepted X-Amz-Expires=\(expires)")
            } catch {
                #expect(error.code == code && error.message == message, "X-Amz-Expires=\(expires)")
            }
        }
    }

    @Test("an x-amz-* header the signature does not cover is refused, for header and presigned signatures")
    func unsignedAmzHeaders() throws {
        let vectors = try SigV4Vectors.load()
        var header = signedVectorRequest(vectors.header[0], accessKey: vectors.accessKey)
        header.headers.append(("x-amz-copy-source", "/other-bucket/key"))
        header.headers.append(("x-amz-meta-owner", "mallory"))
        do {
            _ = try SigV4Verifier(region: "us-east-1").verify(header, now: vectorDate) { _ in vectors.secret }
            Issue.record("accepted unsigned x-amz-* headers")
        } catch {
            #expect(error.code == .accessDenied)
            #expect(error.message == "There were headers present in the request which were not signed")
            #expect(error.details.first { $0.0 == "HeadersNotSigned" }?.1 == "x-amz-copy-source, x-amz-meta-owner")
        }
        let p = vectors.presigned
        var presigned = SignableRequest(method: p.method, path: p.path, query: pairs(p.query), headers: pairs(p.headers))
        presigned.headers.append(("x-amz-copy-source", "/other-bucket/key"))
        #expect(throws: S3Error(.accessDenied, "There were headers present in the request which were not signed")) {
            try SigV4Verifier(region: "us-east-1").verify(presigned, now: vectorDate.addingTimeInterval(60)) { _ in vectors.secret }
        }
        // A presigned request's payload hash is the canonical request's last line: bound anyway.
        presigned.headers.removeLast()
        presigned.headers.append(("x-amz-content-sha256", SigV4.unsignedPayload))
        _ = try SigV4Verifier(region: "us-east-1").verify(presigned, now: vectorDate.addingTimeInterval(60)) { _ in vectors.secret }
        presigned.headers[presigned.headers.count - 1].1 = SigV4.emptySHA256
        #expect(throws: SigV4Verifier.mismatch) {
            try SigV4Verifier(region: "us-east-1").verify(presigned, now: vectorDate.addingTimeInterval(60)) { _ in vectors.secret }
        }
        // Header signatures list every x-amz-* header, the payload hash included.
        let signer = SigV4Signer(accessKey: "AK", secret: "s3cr3t", region: "us-east-1")
        let now = Date()
        let added = signer.sign(
            method: "PUT", path: "/b/k", query: [], headers: [("host", "h"), ("x-amz-meta-a", "1")],
            payloadHash: SigV4.unsignedPayload, date: now)
        let ok = SignableRequest(method: "PUT", path: "/b/k", query: [], headers: [("host", "h"), ("x-amz-meta-a", "1")] + added)
        _ = try SigV4Verifier(region: "us-east-1").verify(ok, now: now) { _ in "s3cr3t" }
        var stripped = ok
        stripped.headers = stripped.headers.map { name, value in
            name == "authorization" ? (name, value.replacingOccurrences(of: "x-amz-content-sha256;", with: "")) : (name, value)
        }
        do {
            _ = try SigV4Verifier(region: "us-east-1").verify(stripped, now: now) { _ in "s3cr3t" }
            Issue.record("accepted an unsigned x-amz-content-sha256 with header authentication")
        } catch {
            #expect(error.details.first { $0.0 == "HeadersNotSigned" }?.1 == "x-amz-content-sha256")
        }
    }

    @Test("a scope naming another region is refused with the expected region")
    func wrongRegion() throws {
        let vectors = try SigV4Vectors.load()
        do {
            _ = try SigV4Verifier(region: "eu-west-3").verify(
                signedVectorRequest(vectors.header[0], accessKey: vectors.accessKey),
                now: vectorDate
            ) { _ in vectors.secret }
            Issue.record("accepted a scope of another region")
        } catch {
            #expect(error.code == .authorizationHeaderMalformed)
            #expect(error.message.contains("the region 'us-east-1' is wrong; expecting 'eu-west-3'"))
            #expect(error.details.first { $0.0 == "Region" }?.1 == "eu-west-3")
        }
        let p = vectors.presigned
        let presigned = SignableRequest(method: p.method, path: p.path, query: pairs(p.query), headers: pairs(p.headers))
        do {
            _ = try SigV4Verifier(region: "eu-west-3").verify(presigned, now: vectorDate.addingTimeInterval(60)) { _ in vectors.secret }
            Issue.record("accepted a presigned scope of another region")
        } catch {
            #expect(error.code == .authorizationQueryParametersError)
            #expect(error.details.first { $0.0 == "Region" }?.1 == "eu-west-3")
        }
    }

    @Test("two Authorization headers, or a header and a presigned query, are refused")
    func oneMechanism() throws {
        let vectors = try SigV4Vectors.load()
        let good = signedVectorRequest(vectors.header[0], accessKey: vectors.accessKey)
        var twice = good
        twice.headers.append(
            ("authorization", "AWS4-HMAC-SHA256 Credential=OTHER/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"))
        #expect(throws: S3Error(.invalidArgument, "Only one Authorization header may be given.")) {
            try SigV4Verifier(region: "us-east-1").verify(twice, now: vectorDate) { _ in vectors.secret }
        }
        var both = good
        both.query = pairs(vectors.presigned.query)
        #expect(throws: SigV4Verifier.oneMechanism) {
            try SigV4Verifier(region: "us-east-1").verify(both, now: vectorDate) { _ in vectors.secret }
        }
    }

    @Test("canonical query sorts by encoded name and value and encodes reserved characters")
    func canonicalQuery() {
        let q = SigV4.canonicalQuery([("prefix", "a b/c"), ("list-type", "2"), ("delimiter", "/"), ("a", "~*")])
        #expect(q == "a=~%2A&delimiter=%2F&list-type=2&prefix=a%20b%2Fc")
        #expect(SigV4.canonicalURI("/b/k ü+") == "/b/k%20%C3%BC%2B")
    }

    @Test("streaming chunk signatures of the AWS example chain verify; a changed byte breaks the chain")
    func chunkChain() throws {
        let vectors = try SigV4Vectors.load()
        let c = vectors.chunked
        let scope = CredentialScope(date: "20130524", region: "us-east-1", service: "s3")
        let key = SigV4.signingKey(secret: vectors.secret, scope: scope)
        var body = [UInt8]()
        for (size, sig) in zip(c.chunkSizes, c.chunkSignatures) {
            body += Array("\(String(size, radix: 16));chunk-signature=\(sig)\r\n".utf8)
            body += [UInt8](repeating: UInt8(ascii: "a"), count: size)
            body += Array("\r\n".utf8)
        }
        let signing = ChunkedBodyVerifier.Signing(key: key, scope: scope, timestamp: c.timestamp, seedSignature: c.seedSignature)
        func run(_ bytes: [UInt8]) throws -> Int64 {
            var decoder = AWSChunkedDecoder()
            var verifier = ChunkedBodyVerifier(signing: signing, expectTrailer: false, declaredTrailers: [])
            for e in try decoder.feed(.init(bytes: bytes)) { _ = try verifier.consume(e) }
            try decoder.finish()
            return verifier.decodedLength
        }
        #expect(try run(body) == 66560)
        var tampered = body
        tampered[200] = UInt8(ascii: "b")
        #expect(throws: S3Error.self) { _ = try run(tampered) }
    }
}

@Suite("SigV4 signer")
struct SigV4SignerTests {
    @Test("what the signer signs, the verifier accepts; with another secret it does not")
    func roundTrip() throws {
        let signer = SigV4Signer(accessKey: "AK", secret: "s3cr3t", region: "eu-west-3")
        let now = Date()
        let query = [("prefix", "a b"), ("list-type", "2")]
        let base = [("host", "127.0.0.1:9000"), ("x-amz-meta-x", " spaced   value ")]
        let added = signer.sign(method: "GET", path: "/bucket/ké y", query: query, headers: base, payloadHash: SigV4.unsignedPayload, date: now)
        let request = SignableRequest(method: "GET", path: "/bucket/ké y", query: query, headers: base + added)
        let v = try SigV4Verifier(region: "eu-west-3").verify(request, now: now) { $0 == "AK" ? "s3cr3t" : nil }
        #expect(v.scope.region == "eu-west-3")
        #expect(throws: S3Error.self) { try SigV4Verifier(region: "eu-west-3").verify(request, now: now) { _ in "other" } }
    }
}

@Suite("SigV2 presigned URLs")
struct SigV2PresignedTests {
    /// AWS "Authenticating REST requests", query string example (bucket johnsmith).
    static let request = SignableRequest(
        method: "GET", path: "/johnsmith/photos/puppy.jpg",
        query: [
            ("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"), ("Expires", "1175139620"), ("Signature", "NpgCjnDzrM+WFzoENXmpNDUsSn8="),
        ], headers: [("host", "johnsmith.s3.amazonaws.com")])
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    @Test("the AWS example verifies before it expires, and not after")
    func example() throws {
        let before = Date(timeIntervalSince1970: 1_175_139_620 - 60)
        let v = try SigV2Presigned.verify(Self.request, now: before) { _ in Self.secret }
        #expect(v.presigned && v.payload == .unsigned)
        #expect(throws: S3Error.self) { try SigV2Presigned.verify(Self.request, now: before) { _ in "other" } }
        #expect(throws: S3Error.self) {
            try SigV2Presigned.verify(Self.request, now: Date(timeIntervalSince1970: 1_175_139_621)) { _ in Self.secret }
        }
    }
}
