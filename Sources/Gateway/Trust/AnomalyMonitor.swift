import AsyncHTTPClient
import Audit
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TLSPolicy

/// Feeds audited events to the anomaly rules. The rules run inline under a lock (a few
/// dictionary operations per request); only a firing starts work of its own: an audit
/// entry (`anomaly.RULE`), a counter, a warning in the log and, when configured, a JSON POST
/// to the webhook.
final class AnomalyMonitor: Sendable {
    let supervisor: Mutex<Supervisor>
    let rules: SupervisionRules
    let audit: AuditWriter
    let metrics: GatewayMetrics
    let logger: Logger

    init(rules: SupervisionRules, audit: AuditWriter, metrics: GatewayMetrics, logger: Logger) {
        supervisor = Mutex(Supervisor(rules: rules))
        self.rules = rules
        self.audit = audit
        self.metrics = metrics
        self.logger = logger
    }

    func observe(_ event: AuditEvent, hours: Range<Int>?) {
        let fired = supervisor.withLock { $0.observe(event, hours: hours) }
        guard !fired.isEmpty else { return }
        Task { await self.report(fired, time: event.time) }
    }

    func report(_ anomalies: [Anomaly], time: Date) async {
        for a in anomalies {
            metrics.anomalies(rule: a.rule.rawValue).increment()
            logger.warning(
                "anomaly",
                metadata: [
                    "rule": .string(a.rule.rawValue), "principal": .string(a.principal),
                    "project": .string(a.project ?? "-"), "detail": .string(a.detail),
                ])
            let entry = AuditEvent(
                time: time, principal: a.principal, project: a.project, action: "anomaly." + a.rule.rawValue,
                result: "alert", detail: a.detail)
            await audit.record(entry, logger: logger)
            if let url = rules.webhook { await notify(url, a, time: time) }
        }
    }

    /// The webhook's client, with the project's TLS policy like every other outgoing connection.
    static let webhookClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: TLSPolicy.client()))

    func notify(_ url: String, _ a: Anomaly, time: Date) async {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        let body: [String: String] = [
            "rule": a.rule.rawValue, "principal": a.principal, "project": a.project ?? "",
            "detail": a.detail, "time": time.formatted(.iso8601),
        ]
        request.body = .bytes(ByteBuffer(data: (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()))
        do {
            let response = try await Self.webhookClient.execute(request, timeout: .seconds(10))
            if response.status.code >= 300 { logger.warning("anomaly webhook answered \(response.status.code)") }
        } catch {
            logger.warning("anomaly webhook failed", metadata: ["error": .string("\(error)")])
        }
    }
}
