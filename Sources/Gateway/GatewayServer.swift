import Access
import Audit
import Catalog
import Datasets
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Replication
import S3Protocol
import Sealing
import ServiceLifecycle
import Storage
import TLSPolicy

/// Options of `passerelle serve`.
public struct ServeOptions: Sendable {
    public var dataDirectory: String
    public var listen: (host: String, port: Int)
    public var tlsListen: (host: String, port: Int)?
    /// Where `/metrics` is served without authentication (nil: not at all).
    public var metricsListen: (host: String, port: Int)?
    public var region: String
    public var domains: [String]
    public var config: GatewayConfig
    /// Every request audited before its response (off only to measure what auditing costs).
    public var audit = true
    public var sessionLifetime: TimeInterval = 3600

    public init(
        dataDirectory: String, listen: (String, Int), tlsListen: (String, Int)?, metricsListen: (String, Int)? = nil,
        region: String, domains: [String], config: GatewayConfig = GatewayConfig()
    ) {
        self.config = config
        self.metricsListen = metricsListen
        self.dataDirectory = dataDirectory
        self.listen = listen
        self.tlsListen = tlsListen
        self.region = region
        self.domains = domains
    }
}

/// The embedded gateway: filesystem store and SQLite catalog under the data directory,
/// HTTP and (optionally) HTTPS listeners sharing one state.
public enum GatewayServer {
    public static func run(_ options: ServeOptions, rootCredentials: (String, String), logger: Logger) async throws {
        let dir = options.dataDirectory
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        DataDirectory.restrictFiles(in: dir, logger: logger)
        let catalog = try SQLiteCatalog(path: dir + "/catalog.sqlite")
        let keyring = try options.config.openKeyring(dataDirectory: dir)
        try await options.config.requireKeyring(keyring, catalog: catalog)
        let backends = try await BackendFactory.registry(
            config: options.config, local: try localStore(dataDirectory: dir),
            keyring: keyring, logger: logger)
        let gateway = try GatewayIdentity.load(dataDirectory: dir)
        let metrics = GatewayMetrics()
        let auditLog = options.audit ? try AuditLog(directory: dir) : nil
        let writer = auditLog.map(AuditWriter.init(log:))
        let objects = ObjectLayer(catalog: catalog, backends: backends, observer: metrics, audit: writer, owner: gateway.instance, logger: logger)
        // Before any request: what an earlier run of this gateway left half-done.
        for case let fs as FileSystemBackend in backends.backends.values {
            let removed = try await objects.collectGarbage(in: fs.store)
            if removed > 0 { logger.info("removed unreferenced blobs", metadata: ["count": .stringConvertible(removed)]) }
        }
        try await declareDatasets(options.config, catalog: catalog, region: options.region, now: Date(), keyring: keyring)
        try await Reconciler(catalog: catalog, logger: logger).settleAll(backends: backends, ownedBy: gateway.id)
        _ = try await catalog.releaseClaims(ownerPrefix: gateway.id + "/")
        await TargetGarbage.collect(catalog: catalog, backends: backends, logger: logger)
        let trust = Trust(
            access: try AccessStore(directory: dir), audit: writer,
            rules: options.config.supervision, signIn: options.config.signIn, metrics: metrics, logger: logger,
            sessionLifetime: options.sessionLifetime)
        if !options.audit { logger.warning("auditing is OFF: requests are not recorded") }
        let state = GatewayState(
            objects: objects,
            credentials: try options.config.operatorKeys(root: rootCredentials, environment: ProcessInfo.processInfo.environment),
            region: options.region, domains: options.domains, logger: logger, trust: trust,
            metrics: metrics, metricsToken: try options.config.metrics.token(environment: ProcessInfo.processInfo.environment))
        let responder = S3Responder(state: state)
        let limits = options.config.http
        let closedConnections = metrics.closedConnections
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                // Before ExpectContinueHandler, so the `100 Continue` it writes starts the body's clock.
                RequestDeadlineHandler(limits: limits, onClose: { closedConnections($0.rawValue).increment() }),
                ExpectContinueHandler(),
            ],
            idleTimeout: .milliseconds(Int64(limits.idleTimeout * 1000)))
        var services: [any Service] = [
            ReplicationService(objects: objects, owner: gateway.instance),
            LifecycleService(
                sweeper: LifecycleSweeper(objects: objects, perSecond: options.config.lifecycle.perSecond),
                interval: options.config.lifecycle.intervalSeconds, logger: logger),
        ]
        if options.config.views.refreshSeconds > 0 {
            services.append(ViewRefresher(state: state, trust: trust, interval: options.config.views.refreshSeconds))
        }
        if let audit = trust.audit {
            services.append(SignInRefusalLog(gate: trust.signIn, audit: audit, logger: logger))
        }
        if let auditLog, let days = options.config.audit?.retentionDays {
            services.append(AuditRetention(log: auditLog, days: days, logger: logger))
        }
        services.append(
            Application(
                responder: responder, server: .http1(configuration: http1),
                configuration: .init(address: .hostname(options.listen.host, port: options.listen.port), serverName: "Passerelle"),
                onServerRunning: { channel in
                    announce("listening on http://\(options.listen.host):\(channel.localAddress?.port ?? options.listen.port)")
                },
                logger: logger))
        if let listen = options.metricsListen {
            services.append(
                Application(
                    responder: MetricsResponder(endpoint: MetricsEndpoint(state: state)), server: .http1(configuration: http1),
                    configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "Passerelle"),
                    onServerRunning: { channel in announce("metrics on http://\(listen.host):\(channel.localAddress?.port ?? listen.port)/metrics") },
                    logger: logger))
        }
        if let tls = options.tlsListen {
            let (paths, replaced) = try SelfSignedCertificate.ensure(in: dir)
            if replaced { logger.notice("replaced the self-signed certificate of an earlier version (it was its own CA)") }
            let config = TLSPolicy.server(
                certificateChain: try NIOSSLCertificate.fromPEMFile(paths.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: paths.privateKey, format: .pem)))
            announce("TLS certificate: \(paths.certificate)")
            services.append(
                Application(
                    responder: responder, server: try .tls(.http1(configuration: http1), tlsConfiguration: config),
                    configuration: .init(address: .hostname(tls.host, port: tls.port), serverName: "Passerelle"),
                    onServerRunning: { channel in announce("listening on https://\(tls.host):\(channel.localAddress?.port ?? tls.port)") },
                    logger: logger))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await backends.shutdown()
            throw error
        }
        await backends.shutdown()
    }

    /// The embedded store under the data directory.
    public static func localStore(dataDirectory: String) throws -> FileSystemStore {
        try FileSystemStore(root: dataDirectory + "/store")
    }

    /// Creates the datasets the configuration declares; one that exists with another placement
    /// is an error (moving a dataset is a migration, not an edit).
    public static func declareDatasets(
        _ config: GatewayConfig, catalog: any Catalog, region: String, now: Date,
        keyring: KeyringFile? = nil
    ) async throws {
        for (name, placement) in config.datasets.sorted(by: { $0.key < $1.key }) {
            if placement.sealed { try keyring?.ensureKeys(for: name, now: now) }
            if let existing = try await catalog.bucket(name) {
                // A migrated dataset keeps the placement its configuration had before the move.
                let migratedFrom = try await catalog.migration(name).map { $0.source == placement } ?? false
                guard existing.placement == placement || migratedFrom else {
                    throw ConfigError(
                        "dataset '\(name)' exists with placement \(existing.placement.description); the configuration says \(placement.description)")
                }
                continue
            }
            try await catalog.createBucket(BucketRecord(name: name, region: region, created: now, placement: placement))
        }
    }
}

/// Writes a line to standard output unbuffered, so operators and scripts see it at once.
public func announce(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
