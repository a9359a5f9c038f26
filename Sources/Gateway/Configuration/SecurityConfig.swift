import Access
import Foundation

/// `sign_in:` in the configuration: what bounds the password-hashing work of `POST /session`.
public struct SignInConfig: Sendable, Decodable {
    /// Attempts per source address and minute, and how many may come at once.
    public var perAddressPerMinute: Double = 30
    public var burst: Double = 30
    /// Password checks at once (each on a thread of its own, below the request threads'
    /// priority) and how many may wait; beyond that a sign-in is answered `503 SlowDown`.
    public var hashingThreads = 1
    public var hashingQueue = 16
    public var lockout = LockoutPolicy()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case perAddressPerMinute = "per_address_per_minute", burst, hashingThreads = "hashing_threads"
        case hashingQueue = "hashing_queue", lockout
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SignInConfig()
        perAddressPerMinute = try c.decodeIfPresent(Double.self, forKey: .perAddressPerMinute) ?? d.perAddressPerMinute
        burst = try c.decodeIfPresent(Double.self, forKey: .burst) ?? d.burst
        hashingThreads = try c.decodeIfPresent(Int.self, forKey: .hashingThreads) ?? d.hashingThreads
        hashingQueue = try c.decodeIfPresent(Int.self, forKey: .hashingQueue) ?? d.hashingQueue
        lockout = try c.decodeIfPresent(LockoutPolicy.self, forKey: .lockout) ?? d.lockout
        guard perAddressPerMinute > 0, burst >= 1, hashingThreads >= 1, hashingQueue >= 0 else {
            throw ConfigError("sign_in: per_address_per_minute must be > 0, burst >= 1, hashing_threads >= 1, hashing_queue >= 0")
        }
    }
}

/// `http:` in the configuration: how long a client may take to send a request. The defaults
/// are a hardened server's (nginx: `client_header_timeout 60s`; Apache mod_reqtimeout:
/// `body MinRate=500`); only time the gateway spends waiting for the client counts.
public struct HTTPLimits: Sendable, Decodable, Equatable {
    /// From a request's first byte (or the connection's start) to the end of its headers.
    public var headerTimeout: TimeInterval = 60
    /// Bytes per second a request body must average over each window of waiting.
    public var bodyMinBytesPerSecond: Double = 500
    public var bodyRateWindow: TimeInterval = 60
    /// A connection with no request in flight is closed after this long.
    public var idleTimeout: TimeInterval = 300

    public init() {}

    enum CodingKeys: String, CodingKey {
        case headerTimeout = "header_timeout_seconds", bodyMinBytesPerSecond = "body_min_bytes_per_second"
        case bodyRateWindow = "body_rate_window_seconds", idleTimeout = "idle_timeout_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HTTPLimits()
        headerTimeout = try c.decodeIfPresent(Double.self, forKey: .headerTimeout) ?? d.headerTimeout
        bodyMinBytesPerSecond = try c.decodeIfPresent(Double.self, forKey: .bodyMinBytesPerSecond) ?? d.bodyMinBytesPerSecond
        bodyRateWindow = try c.decodeIfPresent(Double.self, forKey: .bodyRateWindow) ?? d.bodyRateWindow
        idleTimeout = try c.decodeIfPresent(Double.self, forKey: .idleTimeout) ?? d.idleTimeout
        guard headerTimeout > 0, bodyMinBytesPerSecond >= 0, bodyRateWindow > 0, idleTimeout > 0 else {
            throw ConfigError("http: timeouts and the rate window must be > 0, the minimum rate >= 0")
        }
    }
}

/// `metrics:` in the configuration. `/metrics` is served on its own listener (`serve
/// --metrics-listen`, loopback by default); on the S3 listener only to a bearer of this token.
public struct MetricsConfig: Sendable, Decodable {
    public var tokenEnv: String?
    public var tokenFile: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case tokenEnv = "token_env", tokenFile = "token_file"
    }

    /// The bearer token, when one is configured.
    public func token(environment: [String: String]) throws -> String? {
        try BackendConfig.secret("metrics token", env: tokenEnv, file: tokenFile, backend: "metrics", environment: environment)
    }
}
