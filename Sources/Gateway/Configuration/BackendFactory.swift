import Catalog
import Datasets
import Foundation
import Logging
import Sealing
import Storage

/// Builds the configured backends (secrets read from the environment or files).
public enum BackendFactory {
    public static let localName = "local"

    public static func registry(
        config: GatewayConfig, local: FileSystemStore, environment: [String: String] = ProcessInfo.processInfo.environment,
        keyring: KeyringFile? = nil, logger: Logger
    ) async throws -> BackendRegistry {
        var backends: [String: any Backend] = [localName: FileSystemBackend(store: local)]
        for (name, b) in config.backends.sorted(by: { $0.key < $1.key }) {
            backends[name] = try await make(name: name, b, environment: environment, probeContainer: config.container(on: name), logger: logger)
        }
        return BackendRegistry(backends: backends, defaultPlacement: config.defaultPlacement ?? .local, keyring: keyring)
    }

    public static func make(
        name: String, _ b: BackendConfig, environment: [String: String], probeContainer: String?, logger: Logger
    ) async throws -> any Backend {
        switch b.kind {
        case .filesystem:
            return FileSystemBackend(store: try FileSystemStore(root: b.path ?? ""))
        case .s3:
            guard
                let access = try BackendConfig.secret(
                    "access key", env: b.accessKeyEnv, file: b.accessKeyFile, backend: name, environment: environment),
                let secret = try BackendConfig.secret(
                    "secret key", env: b.secretKeyEnv, file: b.secretKeyFile, backend: name, environment: environment)
            else { throw ConfigError("backend '\(name)': give access_key_env/access_key_file and secret_key_env/secret_key_file") }
            let endpoint = S3Endpoint(
                url: b.endpoint ?? "", region: b.region ?? "us-east-1", accessKey: access, secretKey: secret, pathStyle: b.pathStyle ?? true)
            let client = try S3Client(endpoint: endpoint, transport: HTTPTransport(settings: b.httpSettings))
            var caps = StoreCapabilities.s3
            switch b.profile ?? "s3" {
            case "s3": break
            case "swift": caps = .swift
            case "auto":
                if let container = probeContainer {
                    do {
                        let (probed, notes) = try await S3Probe.capabilities(client: client, bucket: container)
                        caps = probed
                        logger.info(
                            "probed backend capabilities", metadata: ["backend": .string(name), "found": .string(notes.joined(separator: "; "))])
                    } catch {
                        logger.warning(
                            "could not probe backend; using the S3 profile", metadata: ["backend": .string(name), "error": .string("\(error)")])
                    }
                }
            default:
                throw ConfigError("backend '\(name)': unknown profile '\(b.profile ?? "")' (s3, swift, auto)")
            }
            return S3Backend(client: client, capabilities: caps)
        case .azure:
            let endpoint = b.endpoint ?? ""
            guard let account = b.account ?? AzureEndpoint.account(in: endpoint) else {
                throw ConfigError("backend '\(name)': give 'account' (the storage account name)")
            }
            let credential: AzureCredential
            if let key = try BackendConfig.secret(
                "account key", env: b.accountKeyEnv, file: b.accountKeyFile, backend: name, environment: environment)
            {
                do {
                    credential = .sharedKey(try AzureSharedKey(account: account, base64Key: key))
                } catch {
                    throw ConfigError("backend '\(name)': the account key is not base64")
                }
            } else if let sas = try BackendConfig.secret(
                "SAS token", env: b.sasTokenEnv, file: b.sasTokenFile, backend: name, environment: environment)
            {
                credential = .sas(sas)
            } else {
                throw ConfigError("backend '\(name)': give account_key_env/account_key_file or sas_token_env/sas_token_file")
            }
            let client = try AzureClient(
                endpoint: AzureEndpoint(url: endpoint, account: account, credential: credential),
                transport: HTTPTransport(settings: b.httpSettings))
            return AzureBackend(client: client)
        }
    }
}
