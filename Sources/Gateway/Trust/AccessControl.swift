import Access
import Audit
import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import S3Protocol
import Synchronization

/// The trust side of the gateway: who may do what (users, projects, sessions), and the
/// audit log every request goes into before its response is sent.
public struct Trust: Sendable {
    public var access: any AccessStoring
    /// Nil when auditing is switched off (benchmark comparison only: `serve --no-audit`).
    public var audit: AuditWriter?
    public var sessionLifetime: TimeInterval
    public var maxSessionLifetime: TimeInterval
    let monitor: AnomalyMonitor?
    let signIn: SignInGate
    let views = ViewResolver()

    public init(
        access: any AccessStoring, audit: AuditWriter?, rules: SupervisionRules = SupervisionRules(), signIn: SignInConfig = SignInConfig(),
        metrics: GatewayMetrics, logger: Logger, sessionLifetime: TimeInterval = 3600, maxSessionLifetime: TimeInterval = 12 * 3600
    ) {
        self.access = access
        self.audit = audit
        self.signIn = SignInGate(signIn)
        monitor = audit.map { AnomalyMonitor(rules: rules, audit: $0, metrics: metrics, logger: logger) }
        self.sessionLifetime = sessionLifetime
        self.maxSessionLifetime = maxSessionLifetime
    }
}

extension Trust {
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
            logger.error(
                "could not record events in the audit log", metadata: ["action": .string(events.first?.action ?? ""), "error": .string("\(error)")])
        }
    }
}

/// What the handlers need of the decision: the principal and, for a session, its project.
struct AccessGrant: Sendable {
    let principal: Principal
    let project: Project?
    /// The project's view of the request's dataset, when it reads through one.
    var view: ProjectView? = nil

    /// Whether `action` on `key` of `dataset` is allowed (per-key checks inside DeleteObjects).
    func permits(_ action: AccessAction, dataset: String, key: String) -> Bool {
        Policy.decide(principal, AccessRequest(action, .dataset(dataset, key: key)), project: project, userActive: true, now: Date()) == .allow
    }

    var visibleDatasets: Set<String>? { Policy.visibleDatasets(principal, project: project) }

    static let root = AccessGrant(principal: .staff("root"), project: nil)
}
