import Crypto
import Foundation
import Synchronization

/// How the request body is protected (`x-amz-content-sha256`).
public enum PayloadMode: Sendable, Equatable {
    /// The hex SHA-256 of the body was signed: the body must hash to it.
    case signed(sha256Hex: String)
    case unsigned
    /// aws-chunked body; `signedChunks` for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
    case streaming(signedChunks: Bool, trailer: Bool)

    public static func parse(_ header: String) -> PayloadMode? {
        switch header {
        case SigV4.unsignedPayload: return .unsigned
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": return .streaming(signedChunks: true, trailer: false)
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": return .streaming(signedChunks: true, trailer: true)
        case "STREAMING-UNSIGNED-PAYLOAD-TRAILER": return .streaming(signedChunks: false, trailer: true)
        default:
            guard header.utf8.count == 64, Hex.decode(header) != nil else { return nil }
            return .signed(sha256Hex: header.lowercased())
        }
    }
}

/// What a verified signature establishes, and what the body verifier needs to go on.
public struct VerifiedSignature: Sendable {
    public var accessKey: String
    public var scope: CredentialScope
    public var timestamp: String
    public var signingKey: SymmetricKey
    /// The request signature: the seed of the chunk signature chain.
    public var signature: String
    public var payload: PayloadMode
    public var presigned: Bool
}

/// Parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
public struct SigV4Authorization: Sendable, Equatable {
    public var accessKey: String
    public var scope: CredentialScope
    public var signedHeaders: [String]
    public var signature: String

    /// Parses the header; nil when it is not SigV4 at all, throws when it is SigV4 but malformed.
    public static func parse(header: String) throws(S3Error) -> SigV4Authorization? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix(SigV4.algorithm) else { return nil }
        let rest = trimmed.dropFirst(SigV4.algorithm.count)
        guard rest.first == " " else { throw malformed("missing space after algorithm") }
        var fields: [String: String] = [:]
        for part in rest.split(separator: ",") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { throw malformed("component '\(part)' is not name=value") }
            fields[String(kv[0])] = String(kv[1])
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
            throw malformed("Credential, SignedHeaders and Signature are required")
        }
        let (key, scope) = try parseCredential(credential)
        return SigV4Authorization(accessKey: key, scope: scope, signedHeaders: try parseSignedHeaders(signed), signature: signature)
    }

    static func parseCredential(_ text: String) throws(S3Error) -> (String, CredentialScope) {
        // The access key itself may hold '/' or ':', so the scope is the last four components.
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[parts.count - 1] == "aws4_request" else {
            throw malformed("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"")
        }
        let n = parts.count
        let date = String(parts[n - 4])
        guard date.utf8.count == 8, date.allSatisfy(\.isASCII), date.allSatisfy(\.isNumber) else {
            throw malformed("invalid credential date '\(date)'")
        }
        guard parts[n - 2] == "s3" else { throw malformed("incorrect service '\(parts[n - 2])'; expecting 's3'") }
        let key = parts[0..<(n - 4)].joined(separator: "/")
        guard !key.isEmpty else { throw malformed("empty access key") }
        return (key, CredentialScope(date: date, region: String(parts[n - 3]), service: String(parts[n - 2])))
    }

    static func parseSignedHeaders(_ text: String) throws(S3Error) -> [String] {
        let names = text.split(separator: ";").map { String($0) }
        guard !names.isEmpty, names.allSatisfy({ n in n == n.lowercased() && !n.isEmpty }) else {
            throw malformed("SignedHeaders must be a ';'-separated list of lower-case names")
        }
        return names
    }

    static func malformed(_ why: String) -> S3Error {
        S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; \(why).")
    }
}

/// Verifies SigV4 in the Authorization header or in presigned-URL query parameters.
public struct SigV4Verifier: Sendable {
    /// S3 refuses requests whose time is more than 15 minutes away from the server's clock.
    public static let maxSkew: TimeInterval = 15 * 60
    /// Presigned URLs may live at most 7 days.
    public static let maxPresignedExpiry = 604_800

    /// The gateway's region: a scope naming another one is refused, as AWS does.
    public let region: String
    let keyCache: SigningKeyCache?

    public init(region: String, keyCache: SigningKeyCache? = nil) {
        self.region = region
        self.keyCache = keyCache
    }

    func signingKey(secret: String, scope: CredentialScope) -> SymmetricKey {
        keyCache?.key(secret: secret, scope: scope) ?? SigV4.signingKey(secret: secret, scope: scope)
    }

    /// - Parameter secretFor: the secret of an access key, nil when the key is unknown.
    public func verify(_ request: SignableRequest, now: Date, secretFor: (String) -> String?) throws(S3Error) -> VerifiedSignature {
        let authorizations = request.headers.filter { $0.0 == "authorization" }
        guard authorizations.count <= 1 else {
            throw S3Error(.invalidArgument, "Only one Authorization header may be given.", details: [("ArgumentName", "Authorization")])
        }
        let presignedV4 = request.query.contains(where: { $0.0 == "X-Amz-Signature" || $0.0 == "X-Amz-Algorithm" })
        if let header = authorizations.first?.1 {
            guard !presignedV4 && !SigV2Presigned.applies(to: request) else { throw Self.oneMechanism }
            guard let auth = try SigV4Authorization.parse(header: header) else {
                if header.hasPrefix("AWS ") {
                    throw S3Error(.invalidRequest, "Signature Version 2 is not supported; use AWS4-HMAC-SHA256.")
                }
                throw S3Error(.authorizationHeaderMalformed, "Unsupported authorization type.")
            }
            return try verifyHeader(request, auth, now: now, secretFor: secretFor)
        }
        if presignedV4 {
            guard !SigV2Presigned.applies(to: request) else { throw Self.oneMechanism }
            return try verifyPresigned(request, now: now, secretFor: secretFor)
        }
        if SigV2Presigned.applies(to: request) {
            return try SigV2Presigned.verify(request, now: now, secretFor: secretFor)
        }
        throw S3Error(.accessDenied, "Access Denied")
    }

    private func verifyHeader(
        _ request: SignableRequest, _ auth: SigV4Authorization, now: Date, secretFor: (String) -> String?
    ) throws(S3Error) -> VerifiedSignature {
        guard let hashHeader = request.header("x-amz-content-sha256") else {
            throw S3Error(.invalidRequest, "Missing required header for this request: x-amz-content-sha256")
        }
        guard let payload = PayloadMode.parse(hashHeader) else {
            throw S3Error(.invalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a SHA-256 hex digest.")
        }
        guard auth.signedHeaders.contains("host") else {
            throw SigV4Authorization.malformed("the 'host' header must be signed")
        }
        guard auth.scope.region == region else {
            throw S3Error(
                .authorizationHeaderMalformed,
                "The authorization header is malformed; the region '\(auth.scope.region)' is wrong; expecting '\(region)'",
                details: [("Region", region)])
        }
        try Self.requireSigned(request, auth.signedHeaders, exempt: [])
        guard let timestamp = request.header("x-amz-date") ?? request.header("date").flatMap(Self.httpDateToAmz),
            let date = AmzDate.parse(timestamp)
        else {
            throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
        }
        guard timestamp.hasPrefix(auth.scope.date) else {
            throw SigV4Authorization.malformed("the credential date does not match x-amz-date")
        }
        try checkSkew(date, now: now)
        guard let secret = secretFor(auth.accessKey) else {
            throw S3Error(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        }
        let key = signingKey(secret: secret, scope: auth.scope)
        let canonical = SigV4.canonicalRequest(request, signedHeaders: auth.signedHeaders, payloadHash: hashHeader)
        let expected = SigV4.sign(SigV4.stringToSign(timestamp: timestamp, scope: auth.scope, canonicalRequest: canonical), key: key)
        guard constantTimeEqual(Array(expected.utf8), Array(auth.signature.lowercased().utf8)) else {
            throw Self.mismatch
        }
        return VerifiedSignature(
            accessKey: auth.accessKey, scope: auth.scope, timestamp: timestamp, signingKey: key,
            signature: expected, payload: payload, presigned: false)
    }

    private func verifyPresigned(_ request: SignableRequest, now: Date, secretFor: (String) -> String?) throws(S3Error) -> VerifiedSignature {
        func param(_ name: String) throws(S3Error) -> String {
            guard let v = request.query.first(where: { $0.0 == name })?.1 else {
                throw S3Error(
                    .authorizationQueryParametersError,
                    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
                        + "X-Amz-SignedHeaders, and X-Amz-Expires parameters."
                )
            }
            return v
        }
        guard try param("X-Amz-Algorithm") == SigV4.algorithm else {
            throw S3Error(.authorizationQueryParametersError, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        }
        let credential = try param("X-Amz-Credential")
        let timestamp = try param("X-Amz-Date")
        let expiresText = try param("X-Amz-Expires")
        let signedHeadersText = try param("X-Amz-SignedHeaders")
        let signature = try param("X-Amz-Signature")
        let (accessKey, scope): (String, CredentialScope)
        let signedHeaders: [String]
        do {
            (accessKey, scope) = try SigV4Authorization.parseCredential(credential)
            signedHeaders = try SigV4Authorization.parseSignedHeaders(signedHeadersText)
        } catch {
            throw S3Error(.authorizationQueryParametersError, error.message)
        }
        guard scope.region == region else {
            throw S3Error(
                .authorizationQueryParametersError,
                "Error parsing the X-Amz-Credential parameter; the region '\(scope.region)' is wrong; expecting '\(region)'",
                details: [("Region", region)])
        }
        // The payload hash header is the canonical request's last line, so its value is bound
        // by the signature even when the signer did not list it.
        try Self.requireSigned(request, signedHeaders, exempt: ["x-amz-content-sha256"])
        guard let date = AmzDate.parse(timestamp), timestamp.hasPrefix(scope.date) else {
            throw S3Error(
                .authorizationQueryParametersError,
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and match the credential date")
        }
        guard let expires = Int(expiresText) else {
            throw S3Error(.authorizationQueryParametersError, "X-Amz-Expires should be a number")
        }
        guard expires >= 0 else {
            throw S3Error(.authorizationQueryParametersError, "X-Amz-Expires must be non-negative")
        }
        guard expires <= Self.maxPresignedExpiry else {
            throw S3Error(.authorizationQueryParametersError, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        }
        if date.timeIntervalSince(now) > Self.maxSkew {
            throw S3Error(.accessDenied, "Request is not valid yet")
        }
        // A URL valid for zero seconds has expired when it arrives.
        if expires == 0 || now.timeIntervalSince(date) > TimeInterval(expires) {
            throw S3Error(.accessDenied, "Request has expired", details: [("X-Amz-Expires", expiresText)])
        }
        guard let secret = secretFor(accessKey) else {
            throw S3Error(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        }
        let payloadHash = request.header("x-amz-content-sha256") ?? SigV4.unsignedPayload
        let payload = PayloadMode.parse(payloadHash) ?? .unsigned
        let key = signingKey(secret: secret, scope: scope)
        let canonical = SigV4.canonicalRequest(request, signedHeaders: signedHeaders, payloadHash: payloadHash, excludingQuery: "X-Amz-Signature")
        let expected = SigV4.sign(SigV4.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: canonical), key: key)
        guard constantTimeEqual(Array(expected.utf8), Array(signature.lowercased().utf8)) else {
            throw Self.mismatch
        }
        return VerifiedSignature(
            accessKey: accessKey, scope: scope, timestamp: timestamp, signingKey: key,
            signature: expected, payload: payload, presigned: true)
    }

    private func checkSkew(_ date: Date, now: Date) throws(S3Error) {
        if abs(date.timeIntervalSince(now)) > Self.maxSkew {
            throw S3Error(
                .requestTimeTooSkewed, "The difference between the request time and the current time is too large.",
                details: [("RequestTime", AmzDate.format(date)), ("ServerTime", AmzDate.format(now)), ("MaxAllowedSkewMilliseconds", "900000")])
        }
    }

    /// AWS refuses a request carrying an `x-amz-*` header its signature does not cover: such a
    /// header changes what the request does (`x-amz-copy-source` turns an upload into a copy,
    /// `x-amz-meta-*` changes what is stored) without the signer having agreed to it.
    static func requireSigned(_ request: SignableRequest, _ signedHeaders: [String], exempt: Set<String>) throws(S3Error) {
        var unsigned: [String] = []
        for (name, _) in request.headers where name.hasPrefix("x-amz-") && !exempt.contains(name) && !signedHeaders.contains(name) {
            if !unsigned.contains(name) { unsigned.append(name) }
        }
        guard unsigned.isEmpty else {
            throw S3Error(
                .accessDenied, "There were headers present in the request which were not signed",
                details: [("HeadersNotSigned", unsigned.joined(separator: ", "))])
        }
    }

    static let oneMechanism = S3Error(
        .invalidArgument,
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header "
            + "should be specified",
        details: [("ArgumentName", "Authorization")])

    static let mismatch = S3Error(
        .signatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")

    /// RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to the amz basic format.
    static func httpDateToAmz(_ text: String) -> String? {
        HTTPDate.parse(text).map(AmzDate.format)
    }
}

/// Signing keys change once a day per credential and region; deriving one costs four HMACs.
/// The secret is part of the cache key, so a rotated secret never meets a stale key; it holds
/// nothing more sensitive than the derived keys beside it, and is not hashed on every request.
public final class SigningKeyCache: Sendable {
    private let keys = Mutex<[String: SymmetricKey]>([:])

    public init() {}

    func key(secret: String, scope: CredentialScope) -> SymmetricKey {
        let id = secret + "\u{0}" + scope.string
        if let k = keys.withLock({ $0[id] }) { return k }
        let k = SigV4.signingKey(secret: secret, scope: scope)
        keys.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[id] = k
        }
        return k
    }
}
