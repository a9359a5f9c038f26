import Foundation

/// Thresholds of the anomaly rules (config `supervision:`).
public struct SupervisionRules: Sendable, Equatable, Decodable {
    /// Length of the counting window, seconds.
    public var windowSeconds: Double = 600
    /// Mass download: a principal's reads in one window above `factor` × its baseline (the
    /// moving average of its earlier windows) and above the absolute floors.
    public var downloadFactor: Double = 10
    public var downloadMinBytes: Int64 = 1 << 30
    public var downloadMinObjects = 1000
    /// Repeated authentication failures by one principal or source address in one window.
    public var authFailures = 10
    /// Distinct datasets touched by one principal in one window.
    public var datasets = 10
    /// Access outside the project's declared hours.
    public var offHours = true
    /// Optional URL that receives each firing as a JSON POST.
    public var webhook: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case windowSeconds = "window_seconds", downloadFactor = "download_factor", downloadMinBytes = "download_min_bytes"
        case downloadMinObjects = "download_min_objects", authFailures = "auth_failures", datasets, offHours = "off_hours", webhook
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SupervisionRules()
        windowSeconds = try c.decodeIfPresent(Double.self, forKey: .windowSeconds) ?? d.windowSeconds
        downloadFactor = try c.decodeIfPresent(Double.self, forKey: .downloadFactor) ?? d.downloadFactor
        downloadMinBytes = try c.decodeIfPresent(Int64.self, forKey: .downloadMinBytes) ?? d.downloadMinBytes
        downloadMinObjects = try c.decodeIfPresent(Int.self, forKey: .downloadMinObjects) ?? d.downloadMinObjects
        authFailures = try c.decodeIfPresent(Int.self, forKey: .authFailures) ?? d.authFailures
        datasets = try c.decodeIfPresent(Int.self, forKey: .datasets) ?? d.datasets
        offHours = try c.decodeIfPresent(Bool.self, forKey: .offHours) ?? d.offHours
        webhook = try c.decodeIfPresent(String.self, forKey: .webhook)
    }
}

public struct Anomaly: Sendable, Equatable {
    public enum Rule: String, Sendable, CaseIterable {
        case massDownload = "mass_download", authFailures = "auth_failures", manyDatasets = "many_datasets", offHours = "off_hours"
    }

    public var rule: Rule
    public var principal: String
    public var project: String?
    public var detail: String
}

/// The anomaly rules over the stream of audited events, pure: time comes from the events.
/// Each rule fires at most once per principal (or source) per window, so a burst is one alert.
public struct Supervisor: Sendable {
    public let rules: SupervisionRules

    struct Usage: Sendable {
        var windowStart: Date
        var bytes: Int64 = 0
        var objects = 0
        var datasets: Set<String> = []
        var failures = 0
        var fired: Set<Anomaly.Rule> = []
        /// Moving averages of earlier windows' reads (the baseline).
        var baselineBytes: Double = 0
        var baselineObjects: Double = 0
        var windows = 0
    }

    var usage: [String: Usage] = [:]
    static let capacity = 100_000

    public init(rules: SupervisionRules) {
        self.rules = rules
    }

    /// `hours`: the declared working hours (UTC) of the event's project, when it has some.
    public mutating func observe(_ e: AuditEvent, hours: Range<Int>? = nil) -> [Anomaly] {
        guard !e.action.hasPrefix("anomaly.") else { return [] }
        if usage.count > Self.capacity {
            // Bounded memory under a flood of names or addresses: forget idle ones, and if a
            // flood of fresh names leaves too many, the least recent ones, so that the next
            // prune is many events away (a prune on every event would cost O(n) each).
            usage = usage.filter { e.time.timeIntervalSince($0.value.windowStart) < 2 * rules.windowSeconds }
            if usage.count > Self.capacity / 2 {
                let kept = usage.sorted { $0.value.windowStart > $1.value.windowStart }.prefix(Self.capacity / 2)
                usage = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
            }
        }
        var out: [Anomaly] = []
        let failed =
            e.result == "denied"
            && (e.action == "login" || e.detail?.hasPrefix("authentication failed") == true
                || e.detail?.hasPrefix("session token refused") == true)
        // Failures count per claimed principal and per source address (guessing many names).
        for who in failed ? [e.principal] + (e.source.map { ["source " + $0] } ?? []) : [e.principal] {
            var u = rolled(who, at: e.time)
            defer { usage[who] = u }
            if failed {
                u.failures += 1
                if u.failures >= rules.authFailures, u.fired.insert(.authFailures).inserted {
                    out.append(
                        Anomaly(
                            rule: .authFailures, principal: who, project: e.project,
                            detail: "\(u.failures) authentication failures within \(Int(rules.windowSeconds)) s"))
                }
                continue
            }
            guard e.result == "allowed" else { continue }
            if let d = e.dataset { u.datasets.insert(d) }
            if u.datasets.count >= rules.datasets, u.fired.insert(.manyDatasets).inserted {
                out.append(
                    Anomaly(
                        rule: .manyDatasets, principal: who, project: e.project,
                        detail: "\(u.datasets.count) datasets within \(Int(rules.windowSeconds)) s"))
            }
            if e.isObjectRead {
                u.objects += 1
                u.bytes += e.bytes ?? 0
                let overBytes = u.bytes >= rules.downloadMinBytes && Double(u.bytes) > rules.downloadFactor * u.baselineBytes
                let overObjects = u.objects >= rules.downloadMinObjects && Double(u.objects) > rules.downloadFactor * u.baselineObjects
                if overBytes || overObjects, u.fired.insert(.massDownload).inserted {
                    out.append(
                        Anomaly(
                            rule: .massDownload, principal: who, project: e.project,
                            detail:
                                "\(u.objects) objects, \(u.bytes) bytes read within \(Int(rules.windowSeconds)) s (baseline "
                                + "\(Int(u.baselineObjects)) objects, \(Int64(u.baselineBytes)) bytes)"
                        ))
                }
            }
            if rules.offHours, let hours, e.project != nil {
                let hour = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC") ?? .current, from: e.time).hour ?? 0
                if !hours.contains(hour), u.fired.insert(.offHours).inserted {
                    out.append(
                        Anomaly(
                            rule: .offHours, principal: who, project: e.project,
                            detail: "access at \(hour):xx UTC, outside the project's declared hours \(hours.lowerBound)-\(hours.upperBound)"))
                }
            }
        }
        return out
    }

    /// The principal's usage, starting a new window (and folding the last into the baseline)
    /// when the current one is over.
    func rolled(_ who: String, at time: Date) -> Usage {
        guard var u = usage[who] else { return Usage(windowStart: time) }
        guard time.timeIntervalSince(u.windowStart) >= rules.windowSeconds else { return u }
        // Windows with no activity in between count as zero reads.
        let elapsed = max(1, Int(time.timeIntervalSince(u.windowStart) / rules.windowSeconds))
        let weight = 0.2
        u.baselineBytes = u.baselineBytes * (1 - weight) + Double(u.bytes) * weight
        u.baselineObjects = u.baselineObjects * (1 - weight) + Double(u.objects) * weight
        for _ in 1..<min(elapsed, 50) {
            u.baselineBytes *= 1 - weight
            u.baselineObjects *= 1 - weight
        }
        return Usage(windowStart: time, baselineBytes: u.baselineBytes, baselineObjects: u.baselineObjects, windows: u.windows + 1)
    }
}
