import Foundation

/// Client-side SigV4 (header form): what the gateway's own S3 clients (benchmarks, later the
/// S3 backend) use. Shares every canonicalisation step with the verifier.
public struct SigV4Signer: Sendable {
    public var accessKey: String
    public var secret: String
    public var region: String

    public init(accessKey: String, secret: String, region: String) {
        self.accessKey = accessKey
        self.secret = secret
        self.region = region
    }

    /// Returns the headers to add: `x-amz-date`, `x-amz-content-sha256`, `authorization`.
    /// `headers` must include `host`; names lower-case.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)],
        payloadHash: String, date: Date
    ) -> [(String, String)] {
        let timestamp = AmzDate.format(date)
        let scope = CredentialScope(date: String(timestamp.prefix(8)), region: region, service: "s3")
        var all = headers
        all.append(("x-amz-date", timestamp))
        all.append(("x-amz-content-sha256", payloadHash))
        let signed = Array(Set(all.map(\.0))).sorted()
        let request = SignableRequest(method: method, path: path, query: query, headers: all)
        let canonical = SigV4.canonicalRequest(request, signedHeaders: signed, payloadHash: payloadHash)
        let key = SigV4.signingKey(secret: secret, scope: scope)
        let signature = SigV4.sign(SigV4.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: canonical), key: key)
        let auth =
            "\(SigV4.algorithm) Credential=\(accessKey)/\(scope.string), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)"
        return [("x-amz-date", timestamp), ("x-amz-content-sha256", payloadHash), ("authorization", auth)]
    }
}
