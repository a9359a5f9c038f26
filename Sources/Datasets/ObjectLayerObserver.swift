/// What the object layer reports as it goes, for metrics: the gateway counts these (its
/// `GatewayMetrics` conforms); a CLI or a test can ignore them (`SilentObserver`).
public protocol ObjectLayerObserver: Sendable {
    /// A sealed object refused: failed authentication, wrong key, wrong length.
    func integrityFailure()
    /// A backend object changed behind the catalog's back (its ETag differs).
    func backendObjectChanged()
    /// A read refused because the object's key version was shredded.
    func shreddedRead()
    /// A read in cutover served by the target copy.
    func targetRead()
    /// A read in cutover that fell back to the source.
    func readFallback()
    /// A key queued again because its target copy was missing or broken when read.
    func readRepair()
    /// Plaintext bytes copied to a migration target.
    func copied(bytes: Int64)
    /// A replication to the target backend failed.
    func replicationFailure(backend: String)
}

/// Reports nothing.
public struct SilentObserver: ObjectLayerObserver {
    public init() {}
    public func integrityFailure() {}
    public func backendObjectChanged() {}
    public func shreddedRead() {}
    public func targetRead() {}
    public func readFallback() {}
    public func readRepair() {}
    public func copied(bytes: Int64) {}
    public func replicationFailure(backend: String) {}
}
