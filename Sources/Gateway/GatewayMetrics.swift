import Catalog
import Datasets
import Foundation
import Prometheus
import Replication
import Synchronization

/// What the gateway counts, served on `GET /metrics` in the Prometheus text format.
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Sealed objects refused because they failed authentication, did not match their key, or
    /// had the wrong length: each one is an integrity alert.
    let integrityFailures: Counter
    /// Reads refused because the object's key version was shredded (expected after retirement).
    let shreddedReads: Counter

    /// Plaintext bytes copied to migration targets (journal, backfill, read-repair).
    let bytesCopied: Counter
    /// Reads in cutover served by the target, and those that fell back to the source.
    let targetReads: Counter
    let readFallbacks: Counter
    /// Keys queued again because a read in cutover found the target copy missing or broken.
    let readRepairs: Counter

    /// Requests refused by the access policy (sessions of projects without the grant).
    let accessDenied: Counter
    /// Failed authentications: sign-ins (wrong password or code, replayed code, locked
    /// account), request signatures, session tokens.
    func authFailures(_ kind: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.name("passerelle_auth_failures_total", "Failed sign-ins, signatures and session tokens."),
            labels: [("kind", kind)])
    }

    /// Audited requests by result. No project or user label: names of research projects say
    /// who studies what, and metrics leave the platform's trust boundary (the audit log holds
    /// the per-project detail). The counters are kept here, so a request costs one dictionary
    /// lookup, not a registry lookup with labels.
    func requests(result: String) -> Counter {
        if let c = requestCounters.withLock({ $0[result] }) { return c }
        let c = registry.makeCounter(
            descriptor: Self.name("passerelle_requests_total", "Audited requests by result."),
            labels: [("result", result)])
        requestCounters.withLock { $0[result] = c }
        return c
    }

    let requestCounters = Mutex<[String: Counter]>([:])

    /// Connections closed because the client was too slow to send a request (header deadline,
    /// body minimum rate).
    var closedConnections: @Sendable (String) -> Counter {
        { [registry] reason in
            registry.makeCounter(
                descriptor: Self.name("passerelle_slow_clients_closed_total", "Connections closed for a slow request."),
                labels: [("reason", reason)])
        }
    }

    /// Anomaly rule firings.
    func anomalies(rule: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("passerelle_anomalies_total", "Anomaly rule firings."), labels: [("rule", rule)])
    }

    /// Failed replications per target backend.
    func replicationFailures(backend: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.name("passerelle_replication_failures_total", "Failed replications per target backend."), labels: [("backend", backend)])
    }

    public init() {
        integrityFailures = Self.counter(
            registry, "passerelle_integrity_failures_total",
            "Sealed objects refused: failed authentication, wrong key, truncated or extended payload.")
        shreddedReads = Self.counter(registry, "passerelle_shredded_reads_total", "Reads of objects whose key version was shredded.")
        bytesCopied = Self.counter(registry, "passerelle_replication_bytes_total", "Plaintext bytes copied to migration targets.")
        targetReads = Self.counter(registry, "passerelle_target_reads_total", "Reads in cutover served by the migration target.")
        readFallbacks = Self.counter(registry, "passerelle_read_fallbacks_total", "Reads in cutover that fell back to the source.")
        accessDenied = Self.counter(registry, "passerelle_access_denied_total", "Requests refused by the access policy.")
        readRepairs = Self.counter(registry, "passerelle_read_repairs_total", "Target copies queued again by a read in cutover.")
    }

    /// Gauges that describe the catalog's migrations, refreshed before each scrape.
    func observe(migration m: MigrationRecord, journal: JournalStats, now: Date) {
        let d = [("dataset", m.bucket)]
        for p in Phase.allCases {
            gauge("passerelle_migration_phase", d + [("phase", p.rawValue)]).set(Double(p == m.phase ? 1 : 0))
        }
        gauge("passerelle_replication_queue_depth", d).set(Double(journal.pending))
        gauge("passerelle_replication_dead_letters", d).set(Double(journal.dead))
        gauge("passerelle_replication_lag_seconds", d)
            .set(Double(journal.oldestPending.map { max(0, now.timeIntervalSince($0)) } ?? 0))
        gauge("passerelle_backfill_objects_copied", d).set(Double(m.backfill.copied + m.backfill.imported))
        gauge("passerelle_backfill_bytes_copied", d).set(Double(m.backfill.copiedBytes))
        gauge("passerelle_backfill_done", d).set(Double(m.backfill.stage == .done ? 1 : 0))
        if let text = m.report, let report = try? VerificationReport.decode(Data(text.utf8)) {
            for c in VerificationReport.Category.allCases {
                gauge("passerelle_verification_objects", d + [("result", c.rawValue)]).set(Double(report[c].objects))
            }
        }
    }

    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    static func counter(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String) -> Counter {
        registry.makeCounter(descriptor: Self.name(name, help))
    }

    func gauge(_ name: String, _ labels: [(String, String)]) -> Gauge {
        registry.makeGauge(descriptor: Self.name(name, ""), labels: labels)
    }

    public func text() -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}

extension GatewayMetrics: ObjectLayerObserver {
    public func integrityFailure() { integrityFailures.increment() }
    public func backendObjectChanged() { integrityFailures.increment() }
    public func shreddedRead() { shreddedReads.increment() }
    public func targetRead() { targetReads.increment() }
    public func readFallback() { readFallbacks.increment() }
    public func readRepair() { readRepairs.increment() }
    public func copied(bytes: Int64) { bytesCopied.increment(by: bytes) }
    public func replicationFailure(backend: String) { replicationFailures(backend: backend).increment() }
}
