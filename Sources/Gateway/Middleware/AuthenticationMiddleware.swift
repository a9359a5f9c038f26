import Access
import Foundation
import HTTPTypes
import Hummingbird
import S3Protocol

/// Finds what an S3 request addresses and which operation it is, and verifies its signature
/// with the secret of a static key or of the session its token describes: the principal goes
/// to the context and to the audit record; a bad signature or token gets S3's own errors.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = S3RequestContext
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let audit = context.audit
        let target = try RequestTarget.parse(request, domains: state.domains)
        audit.located(nil, resource: target.path)
        audit.update { d in
            d.dataset = target.bucket
            d.key = target.key
        }
        let op = try S3Operation.classify(
            method: request.method.rawValue, bucket: target.bucket, key: target.key, query: target.query,
            headers: { name in HTTPField.Name(name).flatMap { request.headers[$0] } })
        audit.located(op, resource: target.path)
        audit.update { $0.action = op.rawValue }
        var context = context
        context.target = target
        context.operation = op
        if let trust = state.trust {
            (context.signature, context.principal) = try authenticate(request, target, trust: trust, audit: audit)
        } else {
            context.signature = try SigV4Verifier(region: state.region, keyCache: state.signingKeys)
                .verify(target.signable(request), now: state.now(), secretFor: { state.credentials.secret(for: $0) })
            context.principal = .staff("root")
        }
        return try await next(request, context)
    }

    /// The session token of a request: the header, or the query parameter of a presigned URL
    /// (`X-Amz-Security-Token` for SigV4, `x-amz-security-token` for SigV2).
    static func securityToken(_ request: Request, _ target: RequestTarget) -> String? {
        request.headers[HTTPField.Name("x-amz-security-token")!] ?? target.queryValue("X-Amz-Security-Token")
            ?? target.queryValue("x-amz-security-token")
    }

    func authenticate(_ request: Request, _ target: RequestTarget, trust: Trust, audit: RequestAudit) throws -> (VerifiedSignature, Principal) {
        let token = Self.securityToken(request, target)
        var session: SessionClaims?
        var refusal: SessionAuthority.Refusal?
        let now = state.now()
        let authority = trust.access.sessions
        let signature: VerifiedSignature
        do throws(S3Error) {
            signature = try SigV4Verifier(region: state.region, keyCache: state.signingKeys).verify(
                target.signable(request), now: now,
                secretFor: { ak in
                    if ak.hasPrefix(SessionAuthority.accessKeyPrefix) {
                        guard let token else { return nil }
                        do {
                            let (claims, secret) = try authority.open(token: token, accessKey: ak, now: now)
                            session = claims
                            return secret
                        } catch let e as SessionAuthority.Refusal {
                            refusal = e
                            return nil
                        } catch {
                            return nil
                        }
                    }
                    return state.credentials.secret(for: ak)
                })
        } catch {
            if let refusal {
                state.metrics.authFailures("token").increment()
                audit.update { $0.denial = "session token refused: \(refusal)" }
                throw refusal == .expired
                    ? S3Error(.expiredToken, "The provided token has expired.")
                    : S3Error(.invalidToken, "The provided token is malformed or otherwise invalid.")
            }
            state.metrics.authFailures("signature").increment()
            let claimed = Self.claimedAccessKey(request, target)
            audit.update { d in
                d.denial = "authentication failed: \(error.code.string)"
                d.principal = claimed.map { "key:" + $0 } ?? d.principal
            }
            throw error
        }
        if let session {
            audit.update { d in
                d.principal = session.user
                d.project = session.project
            }
            return (signature, .session(session))
        }
        let name = state.credentials.name(for: signature.accessKey)
        audit.update { $0.principal = name }
        return (signature, .staff(name))
    }

    /// The access key a request names, whether or not its signature holds (for the audit entry).
    static func claimedAccessKey(_ request: Request, _ target: RequestTarget) -> String? {
        if let header = request.headers[.authorization], let auth = try? SigV4Authorization.parse(header: header) {
            return auth.accessKey
        }
        return target.queryValue("X-Amz-Credential").flatMap { $0.split(separator: "/").first.map(String.init) }
    }
}
