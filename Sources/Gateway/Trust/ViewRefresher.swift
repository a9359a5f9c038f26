import Datasets
import Foundation
import Logging
import ServiceLifecycle

/// `views:` in the configuration: how often view outputs are brought up to date in the
/// background (0: only on demand, when a read finds none).
public struct ViewsConfig: Sendable, Decodable {
    public var refreshSeconds: Double = 10

    public init() {}

    enum CodingKeys: String, CodingKey {
        case refreshSeconds = "refresh_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        refreshSeconds = try c.decodeIfPresent(Double.self, forKey: .refreshSeconds) ?? 10
        guard refreshSeconds >= 0 else { throw ConfigError("views: refresh_seconds must be ≥ 0") }
    }
}

/// Computes, in the background, the view outputs and aggregates that a change of an object, a
/// view, the opt-out registry or a key epoch made stale, one at a time, so the next read of a
/// project seldom waits for one (DESIGN.md §7). Reads never depend on it: a read that finds no
/// current output computes it.
struct ViewRefresher: Service, CustomStringConvertible {
    let state: GatewayState
    let trust: Trust
    let interval: Double

    var description: String { "ViewRefresher(every \(interval) s)" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    var computed = 0
                    for v in try await trust.access.views(dataset: nil) {
                        guard !Task.isCancelled else { break }
                        let mode = try await trust.views.mode(
                            dataset: v.dataset, project: v.project, catalog: state.catalog, access: trust.access,
                            keyring: state.objects.backends.keyring)
                        guard case .view(let view) = mode else { continue }
                        computed += try await state.objects.refreshViews(dataset: v.dataset, view: view)
                    }
                    if computed > 0 { state.logger.notice("views: \(computed) outputs computed in the background") }
                } catch {
                    if !Task.isCancelled { state.logger.warning("view refresh failed", metadata: ["error": .string("\(error)")]) }
                }
                try? await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
