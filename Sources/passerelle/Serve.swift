import ArgumentParser
import Foundation
import Gateway
import Logging
import S3Protocol

#if canImport(Glibc)
import Glibc
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the S3 gateway.")

    @Option(name: .customLong("data-dir"), help: "Where objects, the catalog, credentials and the TLS certificate live.")
    var dataDir = "./passerelle-data"

    @Option(help: "HTTP listen address.")
    var listen = HostPort(argument: "127.0.0.1:9000")!

    @Option(name: .customLong("tls-listen"), help: "HTTPS listen address (self-signed certificate generated on first start).")
    var tlsListen = HostPort(argument: "127.0.0.1:9443")!

    @Flag(name: .customLong("no-tls"), help: "Do not open the HTTPS listener.")
    var noTLS = false

    @Option(name: .customLong("metrics-listen"), help: "Where GET /metrics is served without authentication (HOST:PORT, or none).")
    var metricsListen = "127.0.0.1:9464"

    @Option(help: "Region reported to clients and expected in signatures' scope.")
    var region = "us-east-1"

    @Option(help: "Domain for virtual-host-style addressing (bucket.DOMAIN); repeatable.")
    var domain: [String] = ["localhost"]

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: "YAML file declaring backends and datasets (default: the embedded local store only).")
    var config: String?

    @Flag(name: .customLong("no-audit"), help: "Do not record requests in the audit log (only to measure its cost).")
    var noAudit = false

    @Option(name: .customLong("session-lifetime"), help: "Default lifetime of sign-in sessions, in seconds (max 12 h).")
    var sessionLifetime = 3600

    func run() async throws {
        boundMallocRetention()
        var logger = Logger(label: "passerelle")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let credentials = try RootCredentials.load(dataDirectory: dataDir)
        var metrics: HostPort?
        if metricsListen != "none" {
            guard let m = HostPort(argument: metricsListen) else { throw ValidationError("--metrics-listen takes HOST:PORT or none") }
            metrics = m
        }
        var options = ServeOptions(
            dataDirectory: dataDir, listen: (listen.host, listen.port),
            tlsListen: noTLS ? nil : (tlsListen.host, tlsListen.port),
            metricsListen: metrics.map { ($0.host, $0.port) }, region: region, domains: domain,
            config: try config.map(GatewayConfig.load(path:)) ?? GatewayConfig())
        options.audit = !noAudit
        options.sessionLifetime = TimeInterval(min(max(sessionLifetime, 60), 12 * 3600))
        try await GatewayServer.run(options, rootCredentials: credentials, logger: logger)
    }
}

/// Root credentials: from `PASSERELLE_ROOT_ACCESS_KEY` / `PASSERELLE_ROOT_SECRET_KEY`, else
/// from `DATA_DIR/root-credentials` (mode 0600), generated and printed once on first start.
enum RootCredentials {
    static func load(dataDirectory: String) throws -> (String, String) {
        let env = ProcessInfo.processInfo.environment
        if let a = env["PASSERELLE_ROOT_ACCESS_KEY"], let s = env["PASSERELLE_ROOT_SECRET_KEY"], !a.isEmpty, !s.isEmpty {
            return (a, s)
        }
        let path = dataDirectory + "/root-credentials"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let lines = text.split(separator: "\n").map(String.init)
            guard lines.count >= 2 else { throw ValidationError("\(path) is malformed: expected access key and secret on two lines") }
            return (lines[0], lines[1])
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let access = "PSR" + String((0..<17).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
        var rng = SystemRandomNumberGenerator()
        let secretBytes = (0..<30).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let secret = Data(secretBytes).base64EncodedString().replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "+", with: "-")
        try SecretFile.write("\(access)\n\(secret)\n", to: path)
        announce(
            """
            Generated root credentials (stored in \(path), shown once):
              access key: \(access)
              secret key: \(secret)
            """)
        return (access, secret)
    }
}

/// Streaming uses 1 MiB buffers from many threads. glibc's default gives each thread its own
/// arena and moves its mmap threshold as buffers come and go, so freed buffers pile up across
/// arenas and RSS creeps towards (threads x buffers). Two arenas and a fixed 4 MiB threshold
/// keep reuse fast (no mmap per buffer) and bound what is retained: peak RSS on a 5 GiB
/// stream measured 109 MiB before, 46 MiB after (Benchmarks/s3-vs-seaweedfs.sh).
func boundMallocRetention() {
    #if canImport(Glibc)
    // <malloc.h> is not part of Swift's Glibc module; glibc's mallopt and its parameter
    // numbers (M_MMAP_THRESHOLD = -3, M_ARENA_MAX = -8) are a stable ABI.
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    _ = mallopt(-3, 4 << 20)
    _ = mallopt(-8, 2)
    #endif
}
