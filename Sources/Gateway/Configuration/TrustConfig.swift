import Audit
import Foundation
import Logging
import ServiceLifecycle

/// `audit:` in the configuration.
public struct AuditConfig: Sendable, Decodable {
    /// Entries older than this many days lose their content (their period keys are deleted);
    /// nil keeps everything.
    public var retentionDays: Int?

    enum CodingKeys: String, CodingKey {
        case retentionDays = "retention_days"
    }
}

/// A static key for a service (replication, backups): not subject to project grants, audited
/// under `service:NAME`. The secret comes from an environment variable or a file.
public struct ServiceKeyConfig: Sendable, Decodable {
    public var accessKey: String
    public var secretKeyEnv: String?
    public var secretKeyFile: String?

    enum CodingKeys: String, CodingKey {
        case accessKey = "access_key", secretKeyEnv = "secret_key_env", secretKeyFile = "secret_key_file"
    }
}

extension GatewayConfig {
    /// Root and service keys, by access key id.
    public func operatorKeys(root: (String, String), environment: [String: String]) throws -> CredentialStore {
        var keys: [String: (name: String, secret: String)] = [root.0: ("root", root.1)]
        for (name, k) in serviceKeys.sorted(by: { $0.key < $1.key }) {
            guard keys[k.accessKey] == nil else { throw ConfigError("service key '\(name)': access key \(k.accessKey) is already in use") }
            guard
                let secret = try BackendConfig.secret(
                    "secret key", env: k.secretKeyEnv, file: k.secretKeyFile, backend: "service key \(name)",
                    environment: environment)
            else {
                throw ConfigError("service key '\(name)': give secret_key_env or secret_key_file")
            }
            keys[k.accessKey] = ("service:" + name, secret)
        }
        return CredentialStore(named: keys)
    }
}

/// Applies the audit retention once an hour (and at start).
struct AuditRetention: Service {
    let log: AuditLog
    let days: Int
    let logger: Logger

    func run() async throws {
        // A graceful shutdown cancels the hour-long wait.
        await cancelWhenGracefulShutdown { await loop() }
    }

    func loop() async {
        while !Task.isCancelled {
            let cutoff = AuditEntry.day(Date().addingTimeInterval(-Double(days) * 86400))
            do {
                let gone = try log.expire(before: cutoff)
                if !gone.isEmpty {
                    logger.notice("audit retention: shredded the keys of \(gone.count) periods before \(cutoff)")
                    try log.append([
                        AuditEvent(
                            time: Date(), principal: "gateway", action: "audit.expire", result: "ok",
                            detail: "before \(cutoff): \(gone.joined(separator: ", "))")
                    ])
                }
            } catch {
                logger.error("audit retention failed", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}
