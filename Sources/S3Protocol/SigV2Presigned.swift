import Crypto
import Foundation

/// Query-string authentication of Signature Version 2 (`AWSAccessKeyId`, `Expires`,
/// `Signature`), for presigned URLs only: boto3's `generate_presigned_url` still produces
/// these unless the client is configured for `s3v4` (AWS "Authenticating REST requests",
/// query string request authentication). Header SigV2 stays refused.
public enum SigV2Presigned {
    /// Sub-resources that take part in the canonical resource, as AWS lists them.
    static let subresources: Set<String> = [
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy", "requestPayment",
        "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId", "response-content-type",
        "response-content-language", "response-expires", "response-cache-control", "response-content-disposition",
        "response-content-encoding", "delete", "lifecycle", "tagging", "restore", "storageClass", "notification",
        "replication", "analytics", "metrics", "inventory", "select", "select-type", "object-lock",
    ]

    public static func applies(to request: SignableRequest) -> Bool {
        request.query.contains { $0.0 == "AWSAccessKeyId" } && request.query.contains { $0.0 == "Signature" }
    }

    /// The string to sign; `path` is the path-style resource (`/bucket/key`), decoded.
    public static func stringToSign(_ request: SignableRequest, expires: String) -> String {
        func value(_ name: String) -> String {
            (request.query.first { $0.0.lowercased() == name }?.1 ?? request.header(name) ?? "").trimmingCharacters(in: .whitespaces)
        }
        var amz: [String: [String]] = [:]
        for (n, v) in request.headers where n.hasPrefix("x-amz-") { amz[n, default: []].append(v.trimmingCharacters(in: .whitespaces)) }
        for (n, v) in request.query where n.lowercased().hasPrefix("x-amz-") {
            amz[n.lowercased(), default: []].append(v.trimmingCharacters(in: .whitespaces))
        }
        var text = "\(request.method)\n\(value("content-md5"))\n\(value("content-type"))\n\(expires)\n"
        for name in amz.keys.sorted() { text += "\(name):\(amz[name, default: []].joined(separator: ","))\n" }
        text += URIEncoding.encode(request.path, keepSlash: true)
        let sub = request.query.filter { subresources.contains($0.0) }.sorted { $0.0 < $1.0 }
        if !sub.isEmpty {
            text += "?" + sub.map { $0.1.isEmpty ? $0.0 : "\($0.0)=\($0.1)" }.joined(separator: "&")
        }
        return text
    }

    public static func sign(_ stringToSign: String, secret: String) -> String {
        Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: Data(secret.utf8)))).base64EncodedString()
    }

    public static func verify(_ request: SignableRequest, now: Date, secretFor: (String) -> String?) throws(S3Error) -> VerifiedSignature {
        func param(_ name: String) -> String? { request.query.first { $0.0 == name }?.1 }
        guard let accessKey = param("AWSAccessKeyId"), let signature = param("Signature"),
            let expiresText = param("Expires"), let expires = TimeInterval(expiresText)
        else {
            throw S3Error(.accessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
        }
        if now.timeIntervalSince1970 > expires {
            throw S3Error(.accessDenied, "Request has expired", details: [("Expires", expiresText)])
        }
        guard expires - now.timeIntervalSince1970 <= TimeInterval(SigV4Verifier.maxPresignedExpiry) else {
            throw S3Error(.accessDenied, "Presigned URLs may live at most 7 days.")
        }
        guard let secret = secretFor(accessKey) else {
            throw S3Error(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        }
        let expected = sign(stringToSign(request, expires: expiresText), secret: secret)
        guard constantTimeEqual(Array(expected.utf8), Array(signature.utf8)) else { throw SigV4Verifier.mismatch }
        // A presigned V2 request carries no body signature; the SigV4 fields below are unused
        // for an unsigned payload and are filled only to keep one verified-request type.
        let scope = CredentialScope(date: String(AmzDate.format(now).prefix(8)), region: "", service: "s3")
        return VerifiedSignature(
            accessKey: accessKey, scope: scope, timestamp: AmzDate.format(now),
            signingKey: SymmetricKey(size: .bits256), signature: expected, payload: .unsigned, presigned: true)
    }
}
