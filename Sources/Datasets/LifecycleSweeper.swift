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
                guard try await objects.delete(try await objects.route(dataset), key: r.key, ifVersion: r.version).deleted else { continue }
                outcome.expired += 1
                await objects.record(
                    AuditEvent(
                        time: objects.now(), principal: "lifecycle", action: "Lifecycle.Expiration", dataset: dataset, key: r.key,
                        version: String(r.version), bytes: r.size, result: "ok", detail: "rule \(rule.id)"))
            }
            guard page.count == batch, let last = page.last else { break }
            from = Array(last.key.utf8) + [0]
        }
        if rules.actsOnVersions || rules.rules.contains(where: { $0.expiration?.days != nil }),
            try await objects.catalog.bucket(dataset)?.versioning != nil
        {
            outcome.expired += try await sweepVersions(dataset, rules, now: now)
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

    /// Noncurrent versions and expired delete markers of a versioned dataset, one key's
    /// versions at a time (newest first).
    func sweepVersions(_ dataset: String, _ rules: LifecycleConfiguration, now: Date) async throws -> Int {
        var expired = 0
        var cursor = VersionCursor(key: [])
        var key: [ListedVersion] = []
        let batch = 1000
        while true {
            let page = try await objects.catalog.versions(bucket: dataset, from: cursor, until: nil, limit: batch)
            for v in page {
                if let first = key.first, first.record.key != v.record.key {
                    expired += try await expire(dataset, rules, key, now: now)
                    key = []
                }
                key.append(v)
            }
            guard page.count == batch, let last = page.last else { break }
            cursor = VersionCursor(key: Array(last.record.key.utf8), below: last.record.version)
        }
        if !key.isEmpty { expired += try await expire(dataset, rules, key, now: now) }
        return expired
    }

    /// Applies the rules to the versions of one key, newest first.
    func expire(_ dataset: String, _ rules: LifecycleConfiguration, _ versions: [ListedVersion], now: Date) async throws -> Int {
        var expired = 0
        var remaining = versions.count
        for (i, v) in versions.enumerated() where i > 0 {
            let r = v.record
            guard
                let rule = rules.noncurrentExpiringRule(
                    key: r.key, size: r.size, tags: r.headers.tags, noncurrentSince: versions[i - 1].record.lastModified, newer: i - 1,
                    now: now)
            else { continue }
            await pace()
            do {
                guard try await objects.deleteVersion(try await objects.route(dataset), key: r.key, version: r.versionID) != nil else { continue }
            } catch let e as DatasetError where e.code == .locked {
                continue  // Object Lock keeps it; a later sweep expires it once its retention ends
            }
            expired += 1
            remaining -= 1
            await recordExpiry(dataset, r, action: "Lifecycle.NoncurrentVersionExpiration", rule: rule)
        }
        if remaining == 1, let latest = versions.first, latest.isLatest, latest.record.deleteMarker,
            let rule = rules.expiredMarkerRule(key: latest.record.key)
        {
            await pace()
            if try await objects.deleteVersion(try await objects.route(dataset), key: latest.record.key, version: latest.record.versionID) != nil {
                expired += 1
                await recordExpiry(dataset, latest.record, action: "Lifecycle.ExpiredObjectDeleteMarker", rule: rule)
            }
        }
        return expired
    }

    func recordExpiry(_ dataset: String, _ r: ObjectRecord, action: String, rule: LifecycleRule) async {
        await objects.record(
            AuditEvent(
                time: objects.now(), principal: "lifecycle", action: action, dataset: dataset, key: r.key, version: r.versionID.description,
                bytes: r.size, result: "ok", detail: "rule \(rule.id)"))
    }
}
