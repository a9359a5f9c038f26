import Catalog
import Datasets
import Foundation
import Gateway
import NIOConcurrencyHelpers
import Storage
import Testing

@Suite("Configuration and retries")
struct ConfigTests {
    static let yaml = """
        backends:
          sov:
            kind: s3
            endpoint: http://127.0.0.1:1
            access_key_env: AK
            secret_key_file: /run/secret
            profile: swift
        datasets:
          cohort-a: {backend: sov, bucket: research, prefix: a/}
        default_placement:
          backend: sov
          container: research
          prefix: "{dataset}/"
        """

    @Test("a credential store prints no secret, alone or inside what holds it")
    func credentialsRedacted() {
        let store = CredentialStore(named: ["AKIDEXAMPLE": (name: "root", secret: "s3cr3t-value")])
        struct Holder { let credentials: CredentialStore }
        for text in [String(describing: store), String(reflecting: store), String(describing: Holder(credentials: store)), "\(store)"] {
            #expect(!text.contains("s3cr3t-value"), "\(text)")
        }
    }

    @Test("views: refresh_seconds, 0 turning the background refresh off")
    func viewsConfig() throws {
        #expect(try GatewayConfig.parse("views:\n  refresh_seconds: 0\n").views.refreshSeconds == 0)
        #expect(try GatewayConfig.parse("lifecycle:\n  per_second: 5\n").views.refreshSeconds == 10)
        #expect(throws: ConfigError.self) { try GatewayConfig.parse("views:\n  refresh_seconds: -1\n") }
    }

    @Test("trust settings: anomaly thresholds, audit retention, service keys (secrets by environment)")
    func trustSettings() throws {
        let c = try GatewayConfig.parse(
            """
            supervision:
              window_seconds: 120
              download_min_objects: 10
              webhook: http://127.0.0.1:1/hook
            audit:
              retention_days: 365
            service_keys:
              backup:
                access_key: PSVCBACKUP
                secret_key_env: BACKUP_SECRET
            """)
        #expect(c.supervision.windowSeconds == 120 && c.supervision.downloadMinObjects == 10 && c.supervision.authFailures == 10)
        #expect(c.supervision.webhook == "http://127.0.0.1:1/hook" && c.audit?.retentionDays == 365)
        let keys = try c.operatorKeys(root: ("ROOT", "rs"), environment: ["BACKUP_SECRET": "bs"])
        #expect(keys.secret(for: "PSVCBACKUP") == "bs" && keys.name(for: "PSVCBACKUP") == "service:backup")
        #expect(keys.secret(for: "ROOT") == "rs" && keys.name(for: "ROOT") == "root")
        #expect(throws: ConfigError.self) { try c.operatorKeys(root: ("ROOT", "rs"), environment: [:]) }
        #expect(throws: ConfigError.self) { try c.operatorKeys(root: ("PSVCBACKUP", "rs"), environment: ["BACKUP_SECRET": "bs"]) }
    }

    @Test("backends, datasets (bucket as an alias of container) and the default placement")
    func parses() throws {
        let c = try GatewayConfig.parse(Self.yaml)
        #expect(c.backends["sov"]?.kind == .s3)
        #expect(c.backends["sov"]?.secretKeyFile == "/run/secret")
        #expect(c.datasets["cohort-a"] == Placement(backend: "sov", container: "research", prefix: "a/"))
        let registry = BackendRegistry(backends: [:], defaultPlacement: try #require(c.defaultPlacement))
        #expect(registry.placement(forNewDataset: "b1").prefix == "b1/")
    }

    @Test(
        "refused: inline secrets, unknown backends, missing containers, bad dataset names, bad YAML",
        arguments: [
            (yaml.replacingOccurrences(of: "secret_key_file: /run/secret", with: "secret_key: s3cr3t"), "may not be written in the file"),
            (yaml.replacingOccurrences(of: "{backend: sov, bucket", with: "{backend: nope, bucket"), "unknown backend 'nope'"),
            (yaml.replacingOccurrences(of: "bucket: research, ", with: ""), "needs a container"),
            (yaml.replacingOccurrences(of: "cohort-a:", with: "Cohort_A:"), "dataset 'Cohort_A'"),
            (yaml.replacingOccurrences(of: "kind: s3", with: "kind: ftp"), "backends.sov"),
            ("backends: [", "configuration"),
        ])
    func refuses(_ text: String, _ message: String) {
        #expect {
            _ = try GatewayConfig.parse(text)
        } throws: { error in
            let d = "\(error)"
            return d.contains(message) && !d.contains("s3cr3t")
        }
    }

    @Test("full-jitter backoff stays under its cap and grows with the attempt")
    func backoff() {
        let r = RetryPolicy(attempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(2))
        #expect(r.delay(beforeRetry: 0, random: 0.999) < .milliseconds(100))
        #expect(r.delay(beforeRetry: 3, random: 0.999) > .milliseconds(700))
        #expect(r.delay(beforeRetry: 30, random: 0.999) <= .seconds(2))
        #expect(r.delay(beforeRetry: 2, random: 0) == .zero)
    }

    @Test("only 'unavailable' failures are retried")
    func retriesOnlyUnavailable() async throws {
        let r = RetryPolicy(attempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        let calls = Counter()
        await #expect(throws: StoreError.self) {
            try await r.run { _ in
                calls.bump()
                throw StoreError.rejected(status: 403, code: "AccessDenied", message: "")
            }
        }
        #expect(calls.value == 1)
        let n: Int = try await r.run { attempt in
            calls.bump()
            if attempt < 2 { throw StoreError.unavailable("503") }
            return attempt
        }
        #expect(n == 2 && calls.value == 4)
    }
}

final class Counter: Sendable {
    private let box = NIOLockedValueBox(0)
    func bump() { box.withLockedValue { $0 += 1 } }
    var value: Int { box.withLockedValue { $0 } }
}
