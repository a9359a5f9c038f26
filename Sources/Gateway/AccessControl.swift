import Access
import Audit
import Catalog
import Foundation
import HTTPTypes
import Logging
import Hummingbird
import S3Protocol
import Synchronization

/// The trust side of the gateway: who may do what (users, projects, sessions), and the
/// audit log every request goes into before its response is sent.
public struct Trust: Sendable {
    public var access: AccessStore
    /// Nil when auditing is switched off (benchmark comparison only: `serve --no-audit`).
    public var audit: AuditWriter?
    public var sessionLifetime: TimeInterval
    public var maxSessionLifetime: TimeInterval
    let monitor: AnomalyMonitor?
    let signIn: SignInGate

    public init(access: AccessStore, audit: AuditWriter?, rules: SupervisionRules = SupervisionRules(), signIn: SignInConfig = SignInConfig(),
                metrics: GatewayMetrics, logger: Logger, sessionLifetime: TimeInterval = 3600, maxSessionLifetime: TimeInterval = 12 * 3600) {
        self.access = access
        self.audit = audit
        self.signIn = SignInGate(signIn)
        monitor = audit.map { AnomalyMonitor(rules: rules, audit: $0, metrics: metrics, logger: logger) }
        self.sessionLifetime = sessionLifetime
        self.maxSessionLifetime = maxSessionLifetime
    }
}

extension Trust {
    /// Records an event of the gateway's own (backfill runs, anomalies); a failure is logged.
    func record(_ event: AuditEvent, logger: Logger) async {
        await audit?.record(event, logger: logger)
    }

    /// Hands an audited event to the anomaly rules without holding up the response.
    func watch(_ event: AuditEvent, hours: Range<Int>?) {
        monitor?.observe(event, hours: hours)
    }
}

extension AuditWriter {
    /// Appends an event that answers no request; a failure can only be logged.
    func record(_ event: AuditEvent, logger: Logger) async {
        await record([event], logger: logger)
    }

    func record(_ events: [AuditEvent], logger: Logger) async {
        do { try await append(events) } catch {
            logger.error("could not record events in the audit log", metadata: ["action": .string(events.first?.action ?? ""), "error": .string("\(error)")])
        }
    }
}

/// The audit entry of one request, filled in as the request goes through.
struct AuditDraft: Sendable {
    var time: Date
    var principal = "unauthenticated"
    var project: String?
    var purpose: String?
    var action = "Unknown"
    var dataset: String?
    var key: String?
    var version: String?
    var bytes: Int64?
    var denial: String?
    var requestID: String
    var source: String?
    /// The session project's declared hours, for the off-hours rule.
    var hours: Range<Int>?
    /// Objects the request read besides its target (a copy's source).
    var reads: [ObjectRead] = []
    /// Recorded later in a summary entry, not on its own (a rate-limited sign-in).
    var unaudited = false

    func event(status: Int) -> AuditEvent {
        AuditEvent(time: time, principal: principal, project: project, purpose: purpose, action: action, dataset: dataset,
                   key: key, version: version, bytes: bytes, result: result(status), status: status, requestID: requestID,
                   source: source, detail: denial)
    }

    /// The request's entry, then one entry per object it read besides its target, each naming
    /// that object, so a search by the source dataset finds every read of its bytes.
    func events(status: Int) -> [AuditEvent] {
        let into = [dataset, key].compactMap { $0 }.joined(separator: "/")
        return [event(status: status)] + reads.map { r in
            AuditEvent(time: time, principal: principal, project: project, purpose: purpose, action: AuditEvent.sourceRead(of: action),
                       dataset: r.dataset, key: r.key, version: r.version, bytes: r.bytes, result: result(status), status: status,
                       requestID: requestID, source: source, detail: "read into \(into)")
        }
    }

    func result(_ status: Int) -> String {
        denial != nil ? "denied" : status < 400 ? "allowed" : "failed"
    }

    mutating func absorb(_ ledger: RequestLedger) {
        let (version, reads) = ledger.contents
        self.version = version ?? self.version
        self.reads = reads
    }
}

/// An object read on a client's behalf, as the audit log names it.
struct ObjectRead: Sendable, Equatable {
    var dataset: String
    var key: String
    var version: String
    var bytes: Int64
}

/// What a handler learns about the objects it serves, for the request's audit entries: the
/// version of the object a GET returns, the sources a copy reads. The entries are written
/// after the handler returns (or throws), so the handler leaves it here.
final class RequestLedger: Sendable {
    private let state = Mutex<(version: String?, reads: [ObjectRead])>((nil, []))

    /// The version of the request's own object (dataset and key are the request's).
    func served(version: Int64) {
        state.withLock { $0.version = String(version) }
    }

    func read(_ record: ObjectRecord, bytes: Int64) {
        state.withLock { $0.reads.append(ObjectRead(dataset: record.bucket, key: record.key, version: String(record.version), bytes: bytes)) }
    }

    var contents: (String?, [ObjectRead]) { state.withLock { ($0.version, $0.reads) } }
}

/// What the handlers need of the decision: the principal and, for a session, its project.
struct AccessGrant: Sendable {
    let principal: Principal
    let project: Project?

    /// Whether `action` on `key` of `dataset` is allowed (per-key checks inside DeleteObjects).
    func permits(_ action: AccessAction, dataset: String, key: String) -> Bool {
        Policy.decide(principal, AccessRequest(action, .dataset(dataset, key: key)), project: project, userActive: true, now: Date()) == .allow
    }

    var visibleDatasets: Set<String>? { Policy.visibleDatasets(principal, project: project) }

    static let root = AccessGrant(principal: .staff("root"), project: nil)
}

extension S3Responder {
    /// The session token of a request: the header, or the query parameter of a presigned URL
    /// (`X-Amz-Security-Token` for SigV4, `x-amz-security-token` for SigV2).
    static func securityToken(_ request: Request, _ target: RequestTarget) -> String? {
        request.headers[HTTPField.Name("x-amz-security-token")!] ?? target.queryValue("X-Amz-Security-Token")
            ?? target.queryValue("x-amz-security-token")
    }

    /// Verifies the signature with the secret of a static key or of the session the token
    /// describes; a bad token gets S3's own errors (InvalidToken, ExpiredToken).
    func authenticate(_ request: Request, _ target: RequestTarget, trust: Trust, draft: inout AuditDraft) throws -> (VerifiedSignature, Principal) {
        let token = Self.securityToken(request, target)
        var session: SessionClaims?
        var refusal: SessionAuthority.Refusal?
        let now = state.now()
        let authority = trust.access.sessions
        let signature: VerifiedSignature
        do throws(S3Error) {
            signature = try SigV4Verifier(region: state.region, keyCache: state.signingKeys).verify(target.signable(request), now: now, secretFor: { ak in
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
                draft.denial = "session token refused: \(refusal)"
                throw refusal == .expired ? S3Error(.expiredToken, "The provided token has expired.")
                    : S3Error(.invalidToken, "The provided token is malformed or otherwise invalid.")
            }
            draft.denial = "authentication failed: \(error.code.string)"
            state.metrics.authFailures("signature").increment()
            draft.principal = Self.claimedAccessKey(request, target).map { "key:" + $0 } ?? draft.principal
            throw error
        }
        if let session {
            draft.principal = session.user
            draft.project = session.project
            return (signature, .session(session))
        }
        draft.principal = state.credentials.name(for: signature.accessKey)
        return (signature, .staff(draft.principal))
    }

    /// The access key a request names, whether or not its signature holds (for the audit entry).
    static func claimedAccessKey(_ request: Request, _ target: RequestTarget) -> String? {
        if let header = request.headers[.authorization], let auth = try? SigV4Authorization.parse(header: header) {
            return auth.accessKey
        }
        return target.queryValue("X-Amz-Credential").flatMap { $0.split(separator: "/").first.map(String.init) }
    }

    /// Decides the request; a refusal is `AccessDenied` (the reason goes to the audit entry only).
    func authorize(_ op: S3Operation, _ target: RequestTarget, _ request: Request, principal: Principal, trust: Trust,
                   draft: inout AuditDraft) throws -> AccessGrant {
        guard case .session(let claims) = principal else { return AccessGrant(principal: principal, project: nil) }
        let (project, active) = try trust.access.sessionState(user: claims.user, project: claims.project)
        draft.purpose = project?.purpose
        draft.hours = project?.hours
        let grant = AccessGrant(principal: principal, project: project)
        var requests = [Self.accessRequest(op, target)]
        if op == .copyObject || op == .uploadPartCopy,
           let source = request.headers[HTTPField.Name("x-amz-copy-source")!].flatMap({ try? Self.copySourceLocation($0) }) {
            requests.append(AccessRequest(.read, .dataset(source.bucket, key: source.key)))
        }
        for r in requests {
            if case .deny(let reason) = Policy.decide(principal, r, project: project, userActive: active, now: state.now()) {
                draft.denial = reason
                state.metrics.accessDenied.increment()
                throw S3Error(.accessDenied, "Access Denied")
            }
        }
        return grant
    }

    static func accessRequest(_ op: S3Operation, _ t: RequestTarget) -> AccessRequest {
        let bucket = t.bucket ?? ""
        switch op {
        case .listBuckets: return AccessRequest(.list, .service)
        case .createBucket, .deleteBucket: return AccessRequest(.write, .administration)
        case .headBucket, .getBucketLocation, .getBucketVersioning: return AccessRequest(.list, .dataset(bucket, key: nil))
        case .listObjects, .listObjectsV2, .listMultipartUploads:
            return AccessRequest(.list, .dataset(bucket, key: t.queryValue("prefix") ?? ""))
        case .deleteObjects: return AccessRequest(.delete, .dataset(bucket, key: nil))
        case .getObject, .headObject: return AccessRequest(.read, .dataset(bucket, key: t.key ?? ""))
        case .listParts: return AccessRequest(.write, .dataset(bucket, key: t.key ?? ""))
        case .putObject, .copyObject, .createMultipartUpload, .uploadPart, .uploadPartCopy, .completeMultipartUpload:
            return AccessRequest(.write, .dataset(bucket, key: t.key ?? ""))
        case .deleteObject, .abortMultipartUpload: return AccessRequest(.delete, .dataset(bucket, key: t.key ?? ""))
        }
    }
}
