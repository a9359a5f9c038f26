import Crypto
import Foundation

/// What a session token says: who, for which project, until when.
public struct SessionClaims: Codable, Sendable, Equatable {
    public var accessKey: String
    public var user: String
    public var project: String
    public var issued: Int64
    public var expires: Int64

    enum CodingKeys: String, CodingKey {
        case accessKey = "ak", user = "u", project = "p", issued = "iat", expires = "exp"
    }

    public init(accessKey: String, user: String, project: String, issued: Date, expires: Date) {
        self.accessKey = accessKey
        self.user = user
        self.project = project
        self.issued = Int64(issued.timeIntervalSince1970)
        self.expires = Int64(expires.timeIntervalSince1970)
    }

    public var expiry: Date { Date(timeIntervalSince1970: TimeInterval(expires)) }
}

/// Short-lived S3 credentials, stateless like AWS STS's: the session token carries its
/// claims and an HMAC-SHA-256 under a key that never leaves the gateway, and the secret access
/// key is derived from the claims under another key, so nothing per session is stored and a
/// token altered in any byte, or presented with another access key, is refused. Both keys
/// come by HKDF from one 32-byte file (`DATA_DIR/access-secret`, mode 0600).
public struct SessionAuthority: Sendable {
    let tokenKey: SymmetricKey
    let secretKey: SymmetricKey
    public static let accessKeyPrefix = "PSIA"
    static let tokenPrefix = "PST1."

    public init(master: SymmetricKey) {
        tokenKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Array("passerelle/session-token/v1".utf8), outputByteCount: 32)
        secretKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Array("passerelle/session-secret/v1".utf8), outputByteCount: 32)
    }

    public struct Credentials: Codable, Sendable {
        public var accessKeyId: String
        public var secretAccessKey: String
        public var sessionToken: String
        public var expiration: String
        public var project: String

        enum CodingKeys: String, CodingKey {
            case accessKeyId = "AccessKeyId", secretAccessKey = "SecretAccessKey", sessionToken = "SessionToken"
            case expiration = "Expiration", project = "Project"
        }
    }

    public func issue(user: String, project: String, now: Date, lifetime: TimeInterval) -> (Credentials, SessionClaims) {
        let ak = Self.accessKeyPrefix + Base32.encode((0..<10).map { _ in UInt8.random(in: 0...255) })
        let claims = SessionClaims(accessKey: ak, user: user, project: project, issued: now, expires: now.addingTimeInterval(lifetime))
        let token = self.token(for: claims)
        let creds = Credentials(
            accessKeyId: ak, secretAccessKey: secret(for: token), sessionToken: token,
            expiration: claims.expiry.formatted(.iso8601), project: project)
        return (creds, claims)
    }

    func token(for claims: SessionClaims) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let payload = Self.tokenPrefix + Self.base64url((try? encoder.encode(claims)) ?? Data())
        let mac = HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: tokenKey)
        return payload + "." + Self.base64url(Data(mac))
    }

    func secret(for token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(token.utf8), using: secretKey)
        return String(Data(mac).base64EncodedString().prefix(40))
    }

    public enum Refusal: Error, Equatable {
        case malformed, forged, expired, otherKey
    }

    /// Checks a token presented with `accessKey`; returns its claims and the secret to verify
    /// the request's signature with.
    public func open(token: String, accessKey: String, now: Date) throws(Refusal) -> (SessionClaims, secret: String) {
        guard token.hasPrefix(Self.tokenPrefix), let dot = token.lastIndex(of: ".") else { throw .malformed }
        let payload = String(token[..<dot])
        guard let mac = Self.unbase64url(String(token[token.index(after: dot)...])),
            let body = Self.unbase64url(String(payload.dropFirst(Self.tokenPrefix.count)))
        else { throw .malformed }
        let expected = Array(HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: tokenKey))
        guard constantTimeEqual(expected, Array(mac)) else { throw .forged }
        guard let claims = try? JSONDecoder().decode(SessionClaims.self, from: body) else { throw .malformed }
        guard claims.accessKey == accessKey else { throw .otherKey }
        guard Int64(now.timeIntervalSince1970) < claims.expires else { throw .expired }
        return (claims, secret(for: token))
    }

    static func base64url(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ s: String) -> Data? {
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        return Data(base64Encoded: b)
    }
}
