import Crypto
import Foundation

/// An HTTP request as SigV4 sees it: nothing but text, no I/O.
public struct SignableRequest: Sendable {
    public var method: String
    /// The decoded path (e.g. `/bucket/my key`); canonicalisation re-encodes it.
    public var path: String
    /// Decoded query parameters, in any order.
    public var query: [(String, String)]
    /// Header fields with lower-cased names; a name may repeat.
    public var headers: [(String, String)]

    public init(method: String, path: String, query: [(String, String)], headers: [(String, String)]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0 == name }?.1
    }
}

/// The credential scope `date/region/service/aws4_request`.
public struct CredentialScope: Sendable, Equatable {
    public var date: String
    public var region: String
    public var service: String

    public init(date: String, region: String, service: String) {
        self.date = date
        self.region = region
        self.service = service
    }

    public var string: String { "\(date)/\(region)/\(service)/aws4_request" }
}

/// SigV4 signing primitives (AWS Signature Version 4 reference: "Create a signed AWS API request").
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    public static func signingKey(secret: String, scope: CredentialScope) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key))
        }
        let kDate = hmac(SymmetricKey(data: Data("AWS4\(secret)".utf8)), scope.date)
        return hmac(hmac(hmac(kDate, scope.region), scope.service), "aws4_request")
    }

    public static func sign(_ stringToSign: String, key: SymmetricKey) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    public static func sha256Hex(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)))
    }

    /// The canonical URI: each path segment URI-encoded once (S3 does not double-encode).
    public static func canonicalURI(_ path: String) -> String {
        path.isEmpty ? "/" : URIEncoding.encode(path, keepSlash: true)
    }

    /// Parameters sorted by encoded name, then encoded value; `name=value` joined by `&`.
    public static func canonicalQuery(_ query: [(String, String)], excluding: String? = nil) -> String {
        query
            .filter { $0.0 != excluding }
            .map { (URIEncoding.encode($0.0), URIEncoding.encode($0.1)) }
            .sorted { $0.0 == $1.0 ? $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Trims a header value and collapses inner runs of spaces, as canonical headers require.
    public static func canonicalHeaderValue(_ value: String) -> String {
        var out = ""
        var lastSpace = false
        for ch in value.trimmingCharacters(in: .whitespaces) {
            if ch == " " || ch == "\t" {
                if !lastSpace { out.append(" ") }
                lastSpace = true
            } else {
                out.append(ch)
                lastSpace = false
            }
        }
        return out
    }

    public static func canonicalRequest(
        _ request: SignableRequest, signedHeaders: [String], payloadHash: String, excludingQuery: String? = nil
    ) -> String {
        var lines = [request.method, canonicalURI(request.path), canonicalQuery(request.query, excluding: excludingQuery)]
        var headerBlock = ""
        for name in signedHeaders {
            let values = request.headers.filter { $0.0 == name }.map { canonicalHeaderValue($0.1) }
            headerBlock += "\(name):\(values.joined(separator: ","))\n"
        }
        lines.append(headerBlock)
        lines.append(signedHeaders.joined(separator: ";"))
        lines.append(payloadHash)
        return lines.joined(separator: "\n")
    }

    public static func stringToSign(timestamp: String, scope: CredentialScope, canonicalRequest: String) -> String {
        "\(algorithm)\n\(timestamp)\n\(scope.string)\n\(sha256Hex(canonicalRequest))"
    }

    /// String to sign of one `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` chunk.
    public static func chunkStringToSign(timestamp: String, scope: CredentialScope, previousSignature: String, chunkSHA256: String) -> String {
        "AWS4-HMAC-SHA256-PAYLOAD\n\(timestamp)\n\(scope.string)\n\(previousSignature)\n\(emptySHA256)\n\(chunkSHA256)"
    }

    /// String to sign of the trailer of a `…-PAYLOAD-TRAILER` body.
    public static func trailerStringToSign(timestamp: String, scope: CredentialScope, previousSignature: String, trailerSHA256: String) -> String {
        "AWS4-HMAC-SHA256-TRAILER\n\(timestamp)\n\(scope.string)\n\(previousSignature)\n\(trailerSHA256)"
    }
}

/// `yyyyMMdd'T'HHmmss'Z'` (ISO 8601 basic), as `x-amz-date` and `X-Amz-Date` carry it.
public enum AmzDate {
    public static func parse(_ text: String) -> Date? {
        let u = Array(text.utf8)
        guard u.count == 16, u[8] == UInt8(ascii: "T"), u[15] == UInt8(ascii: "Z") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard u[i] >= 48, u[i] <= 57 else { return nil }
                v = v * 10 + Int(u[i] - 48)
            }
            return v
        }
        guard let y = num(0..<4), let mo = num(4..<6), let d = num(6..<8),
            let h = num(9..<11), let mi = num(11..<13), let s = num(13..<15),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        let secs = HTTPDate.daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
        return Date(timeIntervalSince1970: TimeInterval(secs))
    }

    public static func format(_ date: Date) -> String {
        let p = HTTPDate.parts(date)
        return
            "\(HTTPDate.pad(p.y, 4))\(HTTPDate.pad(p.mo, 2))\(HTTPDate.pad(p.d, 2))"
            + "T\(HTTPDate.pad(p.h, 2))\(HTTPDate.pad(p.mi, 2))\(HTTPDate.pad(p.s, 2))Z"
    }
}
