import Access
import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol

/// The gateway's own unsigned endpoints next to the S3 API: sign-in (`POST /session`) and
/// the audit log's public side (`GET /audit/checkpoint|key|proof/inclusion|proof/consistency`),
/// which carries hashes and signatures only, so anyone holding a checkpoint can check it.
/// Signed requests to these paths address buckets as usual (no dataset may take their names);
/// so do `GET /health` and `GET /metrics` (with a bearer token, see `MetricsEndpoint`).
struct GatewayEndpointsMiddleware: RouterMiddleware {
    typealias Context = S3RequestContext
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if request.method == .get, path == "/metrics", let answer = await MetricsEndpoint(state: state).bearerResponse(request) {
            return answer
        }
        guard !Self.signed(request) else { return try await next(request, context) }
        switch (request.method, path, state.trust) {
        case (.get, "/health", _):
            return MetricsEndpoint.health
        case (.post, "/session", let trust?):
            return await signIn(request, context: context, trust: trust)
        case (.get, _, let trust?) where path.hasPrefix("/audit/"):
            guard let audit = trust.audit else { return Self.json(["error": "auditing is off on this gateway"], status: .notFound) }
            return auditResponse(path, query: request.uri.queryParameters, log: audit.log)
        default:
            return try await next(request, context)
        }
    }

    static func signed(_ request: Request) -> Bool {
        request.headers[.authorization] != nil || request.uri.query?.contains("Signature=") == true
    }

    func auditResponse(_ path: String, query: Hummingbird.Parameters, log: any AuditLogStoring) -> Response {
        func number(_ name: String) -> UInt64? { query.get(name).flatMap { UInt64($0) } }
        do {
            switch path {
            case "/audit/checkpoint":
                guard let note = try log.latestCheckpoint() else { return Self.json(["error": "the log is empty"], status: .notFound) }
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: note)))
            case "/audit/key":
                return Response(
                    status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: log.verifierKey + "\n")))
            case "/audit/proof/inclusion":
                guard let index = number("index"), let size = number("size") else {
                    return Self.json(["error": "index and size are required"], status: .badRequest)
                }
                let (leaf, proof) = try log.inclusionProof(index: index, size: size)
                return Self.json(["index": index, "size": size, "leaf": Hex.encode(leaf), "proof": proof.map { Hex.encode($0) }])
            case "/audit/proof/consistency":
                guard let from = number("from"), let to = number("to") else {
                    return Self.json(["error": "from and to are required"], status: .badRequest)
                }
                let proof = try log.consistencyProof(oldSize: from, newSize: to)
                return Self.json(["from": from, "to": to, "proof": proof.map { Hex.encode($0) }])
            default:
                return Self.json(["error": "no such audit resource"], status: .notFound)
            }
        } catch let e as MerkleError {
            return Self.json(["error": e.description], status: .badRequest)
        } catch {
            state.logger.error("audit read failed", metadata: ["error": .string("\(error)")])
            return Self.json(["error": "the audit log could not be read"], status: .internalServerError)
        }
    }

    struct SignInRequest: Decodable {
        var user: String
        var password: String
        var totp: String
        var project: String
        var durationSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case user, password, totp, project
            case durationSeconds = "duration_seconds"
        }
    }

    /// Password + TOTP + project → short-lived credentials bound to that project. Every
    /// attempt is audited (the password and the code never are). Before any password is hashed
    /// the attempt passes the source address's rate limit, finds room in the hashing queue and
    /// is counted as a failure (released if it succeeds), so floods and races cost little.
    func signIn(_ request: Request, context: S3RequestContext, trust: Trust) async -> Response {
        let now = state.now()
        let address = context.channel.remoteAddress?.ipAddress
        var draft = AuditDraft(time: now, action: "login", requestID: AuditMiddleware.newRequestID(), source: address)
        var response: Response
        // The source address's rate first: a flood is refused before its bodies are even parsed.
        if case .refused(let wait, let audit) = trust.signIn.admit(address ?? "unknown", now: now) {
            draft.denial = "sign-in rate limit of the source address"
            draft.unaudited = !audit
            response = Self.retryLater(
                ["error": "too many sign-in attempts from this address; retry in \(Int(wait.rounded(.up))) s"],
                status: .tooManyRequests, after: wait)
        } else if let body = try? await request.body.collect(upTo: 64 * 1024),
            let input = try? JSONDecoder().decode(SignInRequest.self, from: Data(buffer: body))
        {
            draft.principal = input.user
            draft.project = input.project
            do {
                response = try await signIn(input, address: address ?? "unknown", trust: trust, now: now, draft: &draft)
            } catch {
                draft.denial = draft.denial ?? "sign-in failed: \(error)"
                state.logger.error("sign-in failed", metadata: ["error": .string("\(error)")])
                response = Self.json(["error": "sign-in is unavailable; retry later"], status: .serviceUnavailable)
            }
        } else {
            draft.denial = "malformed sign-in request"
            response = Self.json(["error": "expected JSON {user, password, totp, project, duration_seconds?}"], status: .badRequest)
        }
        if draft.denial != nil { state.metrics.authFailures("login").increment() }
        // Refusals by the rate limit after the first of a window are summarised (SignInRefusalLog).
        guard !draft.unaudited else { return response }
        let event = draft.event(status: Int(response.status.code))
        do {
            try await trust.audit?.append(event)
            trust.watch(event, hours: nil)
        } catch {
            state.logger.error("audit append failed", metadata: ["error": .string("\(error)")])
            return Self.json(["error": "the audit log is unavailable"], status: .serviceUnavailable)
        }
        return response
    }

    func signIn(_ input: SignInRequest, address: String, trust: Trust, now: Date, draft: inout AuditDraft) async throws -> Response {
        let refused = Self.json(["error": "sign-in refused: wrong user, password or code"], status: .unauthorized)
        let store = trust.access
        let gate = trust.signIn
        let busy = Self.retryLater(["error": "SlowDown: too many sign-ins in progress; retry shortly"], status: .serviceUnavailable, after: 1)
        guard gate.hasher.load < gate.hasher.threads + gate.hasher.queue else {
            draft.denial = "sign-in queue full"
            return busy
        }
        // Counted before the check, whether or not the name exists: the answers (and their
        // timing) are the same for every name, and concurrent guesses count one each.
        if case .delayed(let until, let subject) = try await store.reserveAttempt(user: input.user, address: address, policy: gate.lockout, now: now)
        {
            draft.denial = "account locked until \(until.formatted(.iso8601)) (\(subject.reason))"
            return Self.retryLater(
                ["error": "too many failed attempts; retry after \(until.formatted(.iso8601))"],
                status: .tooManyRequests, after: until.timeIntervalSince(now))
        }
        let user = try await store.user(input.user).flatMap { $0.disabled ? nil : $0 }
        let passwordOK: Bool
        do {
            // The same hashing work for an unknown name as for a real user.
            passwordOK = try await gate.hasher.verify(input.password, against: user?.passwordHash ?? PasswordHash.decoy)
        } catch {
            try await store.unreserve(user: input.user, address: address)
            draft.denial = "sign-in queue full"
            return busy
        }
        guard let user else {
            draft.denial = "unknown or disabled user"
            return refused
        }
        let verdict = try store.totp(of: user).verify(input.totp, at: now, lastUsedStep: user.lastStep)
        guard passwordOK, case .accepted(let step) = verdict else {
            draft.denial = !passwordOK ? "wrong password" : verdict == .replayed ? "TOTP code replayed" : "wrong TOTP code"
            return refused
        }
        guard try await store.acceptStep(user.name, step: step) else {
            draft.denial = "TOTP code replayed"
            return refused
        }
        try await store.release(user: user.name, address: address)
        guard let project = try await store.project(input.project), project.members.contains(user.name), project.expires > now else {
            draft.denial = "not a member of an active project \(input.project)"
            return Self.json(["error": "user \(user.name) has no access to an active project \(input.project)"], status: .forbidden)
        }
        draft.purpose = project.purpose
        let lifetime = min(
            TimeInterval(input.durationSeconds ?? Int(trust.sessionLifetime)), trust.maxSessionLifetime,
            project.expires.timeIntervalSince(now))
        guard lifetime >= 10 else {
            draft.denial = "requested duration below 10 s"
            return Self.json(["error": "duration_seconds must be at least 10"], status: .badRequest)
        }
        let (creds, claims) = trust.access.sessions.issue(user: user.name, project: project.name, now: now, lifetime: lifetime)
        draft.key = claims.accessKey
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(creds))))
    }

    /// A refusal that says when to come back (`Retry-After`, whole seconds, RFC 9110 §10.2.3).
    static func retryLater(_ object: [String: any Sendable], status: HTTPResponse.Status, after seconds: TimeInterval) -> Response {
        var response = json(object, status: status)
        response.headers[.retryAfter] = String(max(1, Int(seconds.rounded(.up))))
        return response
    }

    static func json(_ object: [String: any Sendable], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
