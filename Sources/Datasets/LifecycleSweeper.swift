import Audit
import Catalog
import Foundation
import S3Protocol

/// Applies the datasets' lifecycle rules (`LifecycleConfiguration`): deletes each object a rule
/// has expired (only the version that was evaluated: a write meanwhile is never expired) and
/// aborts each upload a rule has timed out, at most `perSecond` actions a second, each one an
/// audit entry of its own (principal `lifecycle`). Deletes go through the object layer, so a
/// migrating dataset's target copy follows.
public struct LifecycleSweeper: Sendable {
    public let objects: ObjectLayer
    public let perSecond: Double

    public init(objects: ObjectLayer, perSecond: Double = 100) {
        self.objects = objects
        self.perSecond = perSecond
    }

    public struct Outcome: Sendable, Equatable {
        public var expired = 0
        public var aborted = 0
        public init() {}
    }

    /// One pass over every dataset that has rules.
    public func sweep(now: Date) async throws -> Outcome {
        var total = Outcome()
        for b in try await objects.catalog.buckets() {
            guard let rules = b.lifecycle, rules.acts else { continue }
            let o = try await sweep(b.name, rules, now: now)
            total.expired += o.expired
            total.aborted += o.aborted
        }
        return total
    }

    func pace() async {
        guard perSecond > 0 else { return }
        try? await Task.sleep(for: .seconds(1 / perSecond))
    }

    func sweep(_ dataset: String, _ rules: LifecycleConfiguration, now: Date) async throws -> Outcome {
        var outcome = Outcome()
        var from: [UInt8] = []
        let batch = 1000
        while true {
            let page = try await objects.catalog.objects(bucket: dataset, from: from, until: nil, limit: batch)
            for r in page {
                guard let rule = rules.expiringRule(key: r.key, size: r.size, tags: r.headers.tags, lastModified: r.lastModified, now: now)
                else { continue }
                await pace()
                guard try await objects.delete(try await objects.route(dataset), key: r.key, ifVersion: r.version) else { continue }
                outcome.expired += 1
                await objects.record(
                    AuditEvent(
                        time: objects.now(), principal: "lifecycle", action: "Lifecycle.Expiration", dataset: dataset, key: r.key,
                        version: String(r.version), bytes: r.size, result: "ok", detail: "rule \(rule.id)"))
            }
            guard page.count == batch, let last = page.last else { break }
            from = Array(last.key.utf8) + [0]
        }
        for u in try await objects.catalog.uploads(bucket: dataset) {
            guard let rule = rules.abortingRule(key: u.key, initiated: u.initiated, now: now) else { continue }
            await pace()
            try await objects.abortUpload(u)
            outcome.aborted += 1
            await objects.record(
                AuditEvent(
                    time: objects.now(), principal: "lifecycle", action: "Lifecycle.AbortIncompleteMultipartUpload", dataset: dataset,
                    key: u.key, result: "ok", detail: "rule \(rule.id), upload \(u.uploadID)"))
        }
        return outcome
    }
}
