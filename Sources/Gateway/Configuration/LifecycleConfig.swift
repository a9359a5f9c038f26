import Datasets
import Foundation
import Logging
import ServiceLifecycle

/// `lifecycle:` in the configuration: how often the datasets' lifecycle rules are applied, and
/// at what rate at most.
public struct LifecycleConfig: Sendable, Decodable {
    public var intervalSeconds: Double = 3600
    /// Expiries and aborts a second, at most.
    public var perSecond: Double = 100

    public init() {}

    enum CodingKeys: String, CodingKey {
        case intervalSeconds = "interval_seconds", perSecond = "per_second"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LifecycleConfig()
        intervalSeconds = try c.decodeIfPresent(Double.self, forKey: .intervalSeconds) ?? d.intervalSeconds
        perSecond = try c.decodeIfPresent(Double.self, forKey: .perSecond) ?? d.perSecond
        guard intervalSeconds > 0, perSecond > 0 else { throw ConfigError("lifecycle: interval_seconds and per_second must be > 0") }
    }
}

/// Runs the lifecycle sweeper every `interval` while the gateway runs.
struct LifecycleService: Service {
    let sweeper: LifecycleSweeper
    let interval: Double
    let logger: Logger

    func run() async throws {
        // A graceful shutdown cancels the wait (and a sweep under way: its current delete
        // finishes or not, as a client's would).
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let o = try await sweeper.sweep(now: sweeper.objects.now())
                    if o.expired + o.aborted > 0 {
                        logger.notice("lifecycle: \(o.expired) objects expired, \(o.aborted) uploads aborted")
                    }
                } catch {
                    if !Task.isCancelled { logger.error("lifecycle sweep failed", metadata: ["error": .string("\(error)")]) }
                }
                try? await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
