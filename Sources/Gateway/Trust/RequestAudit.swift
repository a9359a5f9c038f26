import Audit
import Catalog
import Foundation
import S3Protocol
import Synchronization

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
    /// A read through a privacy view: which view, and what it served.
    var view: String?
    var requestID: String
    var source: String?
    /// The session project's declared hours, for the off-hours rule.
    var hours: Range<Int>?
    /// Objects the request read besides its target (a copy's source).
    var reads: [ObjectRead] = []
    /// Recorded later in a summary entry, not on its own (a rate-limited sign-in).
    var unaudited = false

    func event(status: Int) -> AuditEvent {
        AuditEvent(
            time: time, principal: principal, project: project, purpose: purpose, action: action, dataset: dataset,
            key: key, version: version, bytes: bytes, result: result(status), status: status, requestID: requestID,
            source: source, detail: denial ?? view)
    }

    /// The request's entry, then one entry per object it read besides its target, each naming
    /// that object, so a search by the source dataset finds every read of its bytes.
    func events(status: Int) -> [AuditEvent] {
        let into = [dataset, key].compactMap { $0 }.joined(separator: "/")
        return [event(status: status)]
            + reads.map { r in
                AuditEvent(
                    time: time, principal: principal, project: project, purpose: purpose, action: AuditEvent.sourceRead(of: action),
                    dataset: r.dataset, key: r.key, version: r.version, bytes: r.bytes, result: result(status), status: status,
                    requestID: requestID, source: source, detail: "read into \(into)")
            }
    }

    func result(_ status: Int) -> String {
        denial != nil ? "denied" : status < 400 ? "allowed" : "failed"
    }
}

/// An object read on a client's behalf, as the audit log names it.
struct ObjectRead: Sendable, Equatable {
    var dataset: String
    var key: String
    var version: String
    var bytes: Int64
}

/// One request's audit record while the request goes through: the middlewares and the handler
/// each add what they learn (the principal, the operation, the object version served, the
/// sources a copy read); `AuditMiddleware` writes the entries once the response is known.
/// Shared by reference, because a request context is copied on its way down the middlewares.
final class RequestAudit: Sendable {
    private let draft: Mutex<AuditDraft>
    /// The operation and the request path, for the answer's byte count and error documents.
    private let where_: Mutex<(operation: S3Operation?, resource: String?)> = Mutex((nil, nil))

    /// What a context holds before `AuditMiddleware` gives it the request's own (never written).
    static let unset = RequestAudit(requestID: "", source: nil, time: Date(timeIntervalSince1970: 0))

    init(requestID: String, source: String?, time: Date = Date()) {
        draft = Mutex(AuditDraft(time: time, requestID: requestID, source: source))
    }

    var requestID: String { draft.withLock { $0.requestID } }

    func update(_ change: (inout AuditDraft) -> Void) {
        draft.withLock { change(&$0) }
    }

    var current: AuditDraft { draft.withLock { $0 } }

    func located(_ operation: S3Operation?, resource: String) {
        where_.withLock { $0 = (operation, resource) }
    }

    var operation: S3Operation? { where_.withLock { $0.operation } }
    var resource: String? { where_.withLock { $0.resource } }

    /// The version of the request's own object (dataset and key are the request's).
    func served(version: Int64) {
        update { $0.version = String(version) }
    }

    /// An object read besides the request's own (a copy's source).
    func read(_ record: ObjectRecord, bytes: Int64) {
        update { $0.reads.append(ObjectRead(dataset: record.bucket, key: record.key, version: String(record.version), bytes: bytes)) }
    }
}
