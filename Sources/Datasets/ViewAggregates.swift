import Catalog
import Crypto
import Foundation
import NIOCore
import Privacy
import S3Protocol
import Storage

/// A view's aggregates, served to its project as `_aggregates/NAME.csv` and `.json` of the
/// dataset (docs/privacy.md): computed over every object of the dataset, suppressed, sealed on
/// the local store like view outputs, and recomputed when any object, the view, the registry
/// or the epoch changed (the outputs' source version is a fingerprint of every object's key
/// and version).
extension ObjectLayer {
    public static let aggregatesPrefix = "_aggregates/"

    /// The plan of a read of an aggregate of the view, or nil when `key` names none.
    public func aggregatePlan(dataset: String, key: String, view: ProjectView) async throws -> (ReadPlan, computed: ViewOutputRecord?)? {
        guard Self.aggregateFile(key, view) != nil else { return nil }
        return try await aggregatePlan(dataset: dataset, key: key, view: view, objects: try await allObjects(dataset))
    }

    /// The same, over `objects`, the dataset's objects as just read (one scan serves every
    /// aggregate file of a listing or a refresh).
    func aggregatePlan(
        dataset: String, key: String, view: ProjectView, objects: [ObjectRecord]
    ) async throws -> (ReadPlan, computed: ViewOutputRecord?)? {
        guard let file = Self.aggregateFile(key, view) else { return nil }
        let route = try await route(dataset)
        let fingerprint = Self.fingerprint(objects)
        @Sendable func plan(_ o: ViewOutputRecord) -> ReadPlan {
            var record = ObjectRecord(
                bucket: dataset, key: key, size: o.size, etag: o.etag, lastModified: o.created, headers: ObjectHeaders(), checksum: nil,
                checksumType: nil, blob: o.blob, partsCount: nil)
            record.version = fingerprint
            return ReadPlan(route: route, record: record, representation: .stored(record), replica: nil, queued: false, replicationStatus: nil)
                .serving(o, contentType: file.json ? "application/json" : "text/csv")
        }
        if let o = try await currentOutput(dataset, key, view: view, sourceVersion: fingerprint) { return (plan(o), nil) }
        return try await locks.with("aggregates\u{0}\(view.project)\u{0}\(dataset)") {
            if let o = try await currentOutput(dataset, key, view: view, sourceVersion: fingerprint) { return (plan(o), nil) }
            let outputs = try await computeAggregates(dataset, objects: objects, fingerprint: fingerprint, view: view)
            guard let o = outputs[key] else { throw DatasetError.noSuchKey(dataset, key) }
            return (plan(o), o)
        }
    }

    /// The aggregate files of the view, as a listing shows them (under `_aggregates/`).
    public func aggregateListing(dataset: String, prefix: String, view: ProjectView) async throws -> [ObjectRecord] {
        let objects = try await allObjects(dataset)
        var out: [ObjectRecord] = []
        for a in view.spec.aggregates {
            for ext in ["csv", "json"] {
                let key = Self.aggregatesPrefix + a.name + "." + ext
                guard key.hasPrefix(prefix), let (plan, _) = try await aggregatePlan(dataset: dataset, key: key, view: view, objects: objects)
                else { continue }
                var r = plan.record
                r.size = plan.representation.size
                r.etag = plan.representation.etag
                out.append(r)
            }
        }
        return out.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
    }

    static func aggregateFile(_ key: String, _ view: ProjectView) -> (name: String, json: Bool)? {
        guard key.hasPrefix(aggregatesPrefix) else { return nil }
        let file = key.dropFirst(aggregatesPrefix.count)
        for a in view.spec.aggregates {
            if file == a.name + ".csv" { return (a.name, false) }
            if file == a.name + ".json" { return (a.name, true) }
        }
        return nil
    }

    func allObjects(_ dataset: String) async throws -> [ObjectRecord] {
        var out: [ObjectRecord] = []
        var from: [UInt8] = []
        while true {
            let page = try await catalog.objects(bucket: dataset, from: from, until: nil, limit: 1000)
            out += page.filter { !$0.key.hasPrefix(Self.aggregatesPrefix) }
            guard page.count == 1000, let last = page.last else { return out }
            from = Array(last.key.utf8) + [0]
        }
    }

    /// The first 8 bytes of SHA-256 over every object's key and version, in key order.
    static func fingerprint(_ objects: [ObjectRecord]) -> Int64 {
        var h = SHA256()
        for o in objects { h.update(data: Array("\(o.key)\u{0}\(o.version)\n".utf8)) }
        return h.finalize().withUnsafeBytes { Int64(bitPattern: $0.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
    }

    func computeAggregates(
        _ dataset: String, objects: [ObjectRecord], fingerprint: Int64, view: ProjectView
    ) async throws -> [String: ViewOutputRecord] {
        var engine = AggregateEngine(spec: view.spec, keys: view.keys, optOut: view.optOut)
        for record in objects {
            var reader = engine.reader()
            do {
                let source = try await open(try await readPlan(dataset: dataset, key: record.key), range: nil)
                for try await buffer in source {
                    try buffer.withUnsafeReadableBytes { raw in try reader.feed(raw) { row, line in try engine.add(row, line: line) } }
                }
                try reader.finish { row, line in try engine.add(row, line: line) }
            } catch let e as PrivacyError {
                logger.warning(
                    "view failed",
                    metadata: [
                        "dataset": .string(dataset), "key": .string(record.key), "project": .string(view.project), "error": .string(e.description),
                    ])
                throw DatasetError(.viewFailed, dataset: dataset, key: record.key, "aggregates over \(record.key): \(e.description)")
            }
        }
        let (tables, masked) = engine.tables()
        let (placement, sealer) = try viewSealing()
        let counts = engine.counts
        var outputs: [String: ViewOutputRecord] = [:]
        for t in tables {
            for (ext, bytes) in [("csv", AggregateRendering.csv(t, masked: masked)), ("json", AggregateRendering.json(t, masked: masked))] {
                let (keys, seal) = try sealer.newObject()
                var writer = SegmentWriter(store: placement.store, name: placement.name(for: ""), keys: keys)
                try await writer.finish(bytes)
                var sealed = seal
                sealed.segments = writer.segments
                let key = Self.aggregatesPrefix + t.spec.name + "." + ext
                let output = ViewOutputRecord(
                    bucket: dataset, key: key, project: view.project, sourceVersion: fingerprint, identity: view.identity, blob: writer.name,
                    size: writer.size, etag: ETag.quoted(md5: Array(Insecure.MD5.hash(data: bytes))), created: now(), seal: sealed,
                    rowsRead: counts.read, rowsServed: counts.served, rowsOptedOut: counts.optedOut)
                try await commitOutput(output, in: placement)
                outputs[key] = output
            }
        }
        return outputs
    }
}

extension ObjectLayer {
    /// Brings the project's outputs of `dataset` up to date (objects whose view fails are left
    /// to the read that asks for them, which gets the error); returns how many were computed.
    public func refreshViews(dataset: String, view: ProjectView) async throws -> Int {
        var computed = 0
        let objects = try await allObjects(dataset)
        try await dropOrphanOutputs(dataset, view: view, objects: Set(objects.map(\.key)))
        for record in objects {
            guard !Task.isCancelled else { return computed }
            guard try await currentOutput(dataset, record.key, view: view, sourceVersion: record.version) == nil else { continue }
            if try await computeOutput(record, view: view) != nil { computed += 1 }
        }
        if let first = view.spec.aggregates.first {
            do {
                let key = Self.aggregatesPrefix + first.name + ".csv"
                if let (_, new) = try await aggregatePlan(dataset: dataset, key: key, view: view, objects: objects), new != nil {
                    computed += 2 * view.spec.aggregates.count
                }
            } catch let e as DatasetError where e.code == .viewFailed {}
        }
        return computed
    }
}

extension ObjectLayer {
    /// Forgets the project's outputs of objects deleted since (and of aggregates the view no
    /// longer declares), and their blobs.
    func dropOrphanOutputs(_ dataset: String, view: ProjectView, objects: Set<String>) async throws {
        let placement = try viewPlacement()
        for key in try await catalog.viewOutputKeys(bucket: dataset, project: view.project) {
            if key.hasPrefix(Self.aggregatesPrefix) ? Self.aggregateFile(key, view) != nil : objects.contains(key) { continue }
            guard let o = try await catalog.viewOutput(bucket: dataset, key: key, project: view.project) else { continue }
            if try await catalog.dropViewOutput(bucket: dataset, key: key, project: view.project, blob: o.blob) {
                await discard([o.blob], in: placement)
            }
        }
    }
}
