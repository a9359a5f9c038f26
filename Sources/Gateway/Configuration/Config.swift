import Audit
import Catalog
import Foundation
import S3Protocol
import Storage
import Yams

/// `passerelle.yaml`: backends, datasets and their placements. Secrets are never inline:
/// a backend names the environment variable or the file that holds each one.
public struct GatewayConfig: Sendable, Decodable {
    public var backends: [String: BackendConfig]
    public var datasets: [String: Placement]
    /// Where datasets created through S3 CreateBucket go; `{dataset}` in the prefix is replaced.
    public var defaultPlacement: Placement?
    /// Where the keyring of sealed datasets lives and where its master key comes from.
    public var keyring: KeyringConfig?
    /// Anomaly rules (defaults apply when absent).
    public var supervision = SupervisionRules()
    public var audit: AuditConfig?
    public var serviceKeys: [String: ServiceKeyConfig] = [:]
    public var signIn = SignInConfig()
    public var http = HTTPLimits()
    public var metrics = MetricsConfig()
    public var lifecycle = LifecycleConfig()
    public var views = ViewsConfig()

    enum CodingKeys: String, CodingKey {
        case backends, datasets, keyring, supervision, audit, http, metrics, lifecycle, views
        case serviceKeys = "service_keys", signIn = "sign_in"
        case defaultPlacement = "default_placement"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backends = try c.decodeIfPresent([String: BackendConfig].self, forKey: .backends) ?? [:]
        datasets = try c.decodeIfPresent([String: Placement].self, forKey: .datasets) ?? [:]
        defaultPlacement = try c.decodeIfPresent(Placement.self, forKey: .defaultPlacement)
        keyring = try c.decodeIfPresent(KeyringConfig.self, forKey: .keyring)
        supervision = try c.decodeIfPresent(SupervisionRules.self, forKey: .supervision) ?? SupervisionRules()
        audit = try c.decodeIfPresent(AuditConfig.self, forKey: .audit)
        serviceKeys = try c.decodeIfPresent([String: ServiceKeyConfig].self, forKey: .serviceKeys) ?? [:]
        signIn = try c.decodeIfPresent(SignInConfig.self, forKey: .signIn) ?? SignInConfig()
        http = try c.decodeIfPresent(HTTPLimits.self, forKey: .http) ?? HTTPLimits()
        metrics = try c.decodeIfPresent(MetricsConfig.self, forKey: .metrics) ?? MetricsConfig()
        lifecycle = try c.decodeIfPresent(LifecycleConfig.self, forKey: .lifecycle) ?? LifecycleConfig()
        views = try c.decodeIfPresent(ViewsConfig.self, forKey: .views) ?? ViewsConfig()
    }

    public init(backends: [String: BackendConfig] = [:], datasets: [String: Placement] = [:], defaultPlacement: Placement? = nil) {
        self.backends = backends
        self.datasets = datasets
        self.defaultPlacement = defaultPlacement
    }

    public static func load(path: String) throws -> GatewayConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("cannot read the configuration file \(path)")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    public static func parse(_ text: String, source: String = "configuration") throws -> GatewayConfig {
        let config: GatewayConfig
        do {
            config = try YAMLDecoder().decode(GatewayConfig.self, from: text)
        } catch let e as ConfigError {
            throw e
        } catch let DecodingError.dataCorrupted(ctx) where ctx.underlyingError is ConfigError {
            throw ctx.underlyingError as? ConfigError ?? ConfigError(source)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ConfigError("\(source): missing '\(key.stringValue)' at \(Self.path(ctx.codingPath))")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx), let DecodingError.dataCorrupted(ctx) {
            throw ConfigError("\(source): invalid value at \(Self.path(ctx.codingPath)): \(ctx.debugDescription)")
        } catch {
            throw ConfigError("\(source): \(error)")
        }
        try config.validate()
        return config
    }

    /// A container some dataset (or the default placement) uses on `backend`: where its
    /// capabilities are probed and `backend check` looks.
    public func container(on backend: String) -> String? {
        (Array(datasets.values) + [defaultPlacement].compactMap { $0 }).first { $0.backend == backend && !$0.container.isEmpty }?.container
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "top level" : keys.map(\.stringValue).joined(separator: ".")
    }

    public func validate() throws {
        for (name, p) in datasets.sorted(by: { $0.key < $1.key }) {
            if let problem = GatewayNames.datasetNameProblem(name) { throw ConfigError("dataset '\(name)': \(problem)") }
            try check(p, "dataset '\(name)'")
        }
        if let p = defaultPlacement { try check(p, "default_placement") }
    }

    func check(_ p: Placement, _ what: String) throws {
        guard p.backend == "local" || backends[p.backend] != nil else {
            throw ConfigError("\(what): unknown backend '\(p.backend)' (declared: \(["local"] + backends.keys.sorted()))")
        }
        guard Placement.layouts.contains(p.layout) else {
            throw ConfigError("\(what): layout '\(p.layout)' is not supported (\(Placement.layouts.joined(separator: ", ")))")
        }
        if let b = backends[p.backend], b.kind != .filesystem, p.container.isEmpty {
            throw ConfigError("\(what): a placement on '\(p.backend)' needs a container (remote bucket)")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// One backend's declaration.
public struct BackendConfig: Sendable, Decodable {
    public enum Kind: String, Sendable, Decodable { case s3, azure, filesystem }
    public var kind: Kind
    public var endpoint: String?
    public var region: String?
    public var pathStyle: Bool?
    public var caBundle: String?
    /// `s3`, `swift`, or `auto` (probed at start on a container of the backend).
    public var profile: String?
    public var path: String?
    public var account: String?
    /// Secrets: by environment variable name or by file.
    public var accessKeyEnv: String?
    public var accessKeyFile: String?
    public var secretKeyEnv: String?
    public var secretKeyFile: String?
    public var accountKeyEnv: String?
    public var accountKeyFile: String?
    public var sasTokenEnv: String?
    public var sasTokenFile: String?
    public var connectTimeoutSeconds: Double?
    public var readTimeoutSeconds: Double?
    public var retries: Int?

    enum CodingKeys: String, CodingKey {
        case kind, endpoint, region, profile, path, account, retries
        case pathStyle = "path_style", caBundle = "ca_bundle"
        case accessKeyEnv = "access_key_env", accessKeyFile = "access_key_file"
        case secretKeyEnv = "secret_key_env", secretKeyFile = "secret_key_file"
        case accountKeyEnv = "account_key_env", accountKeyFile = "account_key_file"
        case sasTokenEnv = "sas_token_env", sasTokenFile = "sas_token_file"
        case connectTimeoutSeconds = "connect_timeout_seconds", readTimeoutSeconds = "read_timeout_seconds"
        case inlineAccessKey = "access_key", inlineSecretKey = "secret_key", inlineAccountKey = "account_key", inlineSAS = "sas_token"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        for k in [CodingKeys.inlineAccessKey, .inlineSecretKey, .inlineAccountKey, .inlineSAS] where c.contains(k) {
            throw ConfigError(
                "\(GatewayConfig.path(c.codingPath)): '\(k.stringValue)' may not be written in the file; use '\(k.stringValue)_env' (an "
                    + "environment variable name) or '\(k.stringValue)_file'"
            )
        }
        kind = try c.decode(Kind.self, forKey: .kind)
        endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint)
        region = try c.decodeIfPresent(String.self, forKey: .region)
        pathStyle = try c.decodeIfPresent(Bool.self, forKey: .pathStyle)
        caBundle = try c.decodeIfPresent(String.self, forKey: .caBundle)
        profile = try c.decodeIfPresent(String.self, forKey: .profile)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        account = try c.decodeIfPresent(String.self, forKey: .account)
        accessKeyEnv = try c.decodeIfPresent(String.self, forKey: .accessKeyEnv)
        accessKeyFile = try c.decodeIfPresent(String.self, forKey: .accessKeyFile)
        secretKeyEnv = try c.decodeIfPresent(String.self, forKey: .secretKeyEnv)
        secretKeyFile = try c.decodeIfPresent(String.self, forKey: .secretKeyFile)
        accountKeyEnv = try c.decodeIfPresent(String.self, forKey: .accountKeyEnv)
        accountKeyFile = try c.decodeIfPresent(String.self, forKey: .accountKeyFile)
        sasTokenEnv = try c.decodeIfPresent(String.self, forKey: .sasTokenEnv)
        sasTokenFile = try c.decodeIfPresent(String.self, forKey: .sasTokenFile)
        connectTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .connectTimeoutSeconds)
        readTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .readTimeoutSeconds)
        retries = try c.decodeIfPresent(Int.self, forKey: .retries)
        switch kind {
        case .s3, .azure:
            guard endpoint != nil else { throw ConfigError("\(GatewayConfig.path(c.codingPath)): a \(kind.rawValue) backend needs an 'endpoint'") }
        case .filesystem:
            guard path != nil else { throw ConfigError("\(GatewayConfig.path(c.codingPath)): a filesystem backend needs a 'path'") }
        }
    }

    var httpSettings: HTTPSettings {
        HTTPSettings(
            connectTimeout: .milliseconds(Int64((connectTimeoutSeconds ?? 5) * 1000)),
            readTimeout: .milliseconds(Int64((readTimeoutSeconds ?? 60) * 1000)),
            caBundle: caBundle, retry: RetryPolicy(attempts: (retries ?? 3) + 1))
    }

    /// Reads a secret from the named environment variable or file; says which is missing.
    static func secret(_ what: String, env: String?, file: String?, backend: String, environment: [String: String]) throws -> String? {
        if let env {
            guard let v = environment[env], !v.isEmpty else {
                throw ConfigError("backend '\(backend)': the environment variable \(env) (\(what)) is not set")
            }
            return v
        }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigError("backend '\(backend)': cannot read \(what) from \(file)")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return nil
    }
}
