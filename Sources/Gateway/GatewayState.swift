import Access
import Audit
import Catalog
import Datasets
import Foundation
import Logging
import S3Protocol

/// Everything the front door needs; immutable and shared by all connections.
public struct GatewayState: Sendable {
    /// The object layer every S3 operation goes through.
    public var objects: ObjectLayer
    public var credentials: CredentialStore
    public var region: String
    /// Domains under which virtual-host-style addressing applies (`bucket.localhost`).
    public var domains: [String]
    public var logger: Logger
    /// Users, projects, sessions and the audit log; nil in a front door without them (tests).
    public var trust: Trust?
    public let metrics: GatewayMetrics
    /// The bearer token that opens `/metrics` on the S3 listeners (nil: only the metrics listener serves it).
    public var metricsToken: String?
    let signingKeys = SigningKeyCache()

    public init(
        objects: ObjectLayer, credentials: CredentialStore, region: String, domains: [String] = ["localhost"], logger: Logger,
        trust: Trust? = nil, metrics: GatewayMetrics, metricsToken: String? = nil
    ) {
        self.objects = objects
        self.credentials = credentials
        self.region = region
        self.domains = domains
        self.logger = logger
        self.trust = trust
        self.metrics = metrics
        self.metricsToken = metricsToken
    }

    public var catalog: any Catalog { objects.catalog }
    public func now() -> Date { objects.now() }
}
