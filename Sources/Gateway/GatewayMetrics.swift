import Prometheus

/// What the gateway counts, served on `GET /metrics` in the Prometheus text format.
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Sealed objects refused because they failed authentication, did not match their key, or
    /// had the wrong length: each one is an integrity alert.
    let integrityFailures: Counter
    /// Reads refused because the object's key version was shredded (expected after retirement).
    let shreddedReads: Counter

    public init() {
        integrityFailures = registry.makeCounter(
            name: "passerelle_integrity_failures_total",
            help: "Sealed objects refused: failed authentication, wrong key, truncated or extended payload.")
        shreddedReads = registry.makeCounter(
            name: "passerelle_shredded_reads_total", help: "Reads of objects whose key version was shredded.")
    }

    public func text() -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}
