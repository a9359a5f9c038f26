import Catalog
import Crypto
import Datasets
import Foundation
import Logging
import S3Protocol
import Sealing
import Storage

/// Compares a migrating dataset's two placements object by object (DESIGN.md §3) and says, per
/// object, whether the target holds it identical, is missing it, holds something different,
/// or holds objects the dataset does not have. `full` reads both sides (the sealed side
/// decrypted) and compares sizes and SHA-256 of the plaintext; `checksums` compares the MD5
/// recorded when the copy was made with the object's MD5 ETag and checks the target object
/// exists with the right length. An object whose source copy cannot be read, or that has no
/// MD5 to compare in `checksums` mode, is *unverifiable*, never identical.
public struct Verifier: Sendable {
    public enum Mode: String, Sendable { case full, checksums }

    let objects: ObjectLayer
    let mode: Mode
    let parallelism: Int
    /// How long keys with a replication in flight are waited for before counting as missing.
    let settle: Duration

    public init(objects: ObjectLayer, mode: Mode = .full, parallelism: Int = 8, settle: Duration = .seconds(10)) {
        self.objects = objects
        self.mode = mode
        self.parallelism = parallelism
        self.settle = settle
    }

    enum Finding: Sendable {
        case found(VerificationReport.Category, Int64, String)
        /// Perhaps a write in flight (a copy queued, a source being replaced): look again
        /// later; if it persists until the end, it is what it looks like.
        case again(VerificationReport.Category, Int64, String)
    }

    public func run(dataset: String) async throws -> VerificationReport {
        let route = try await objects.route(dataset)
        guard let m = route.migration, let target = route.target else {
            throw CatalogError.phase("dataset '\(dataset)' is not mirroring to a target")
        }
        var report = VerificationReport(
            dataset: dataset, source: m.source.description, target: m.target.description, mode: mode.rawValue,
            started: objects.now())
        var later: [String] = []
        var from: [UInt8] = []
        while true {
            let page = try await objects.catalog.objectsWithReplicas(bucket: dataset, from: from, limit: 512)
            guard let last = page.last else { break }
            for (key, finding) in await check(page.map(\.0.key), route: route, target: target) {
                if case .found(let c, let bytes, let why) = finding { report.add(c, bytes: bytes, example: why) } else { later.append(key) }
            }
            from = Array(last.0.key.utf8) + [0]
        }
        // Keys with a write in flight: wait for the journal to catch up, then look once more.
        let deadline = ContinuousClock.now + settle
        while !later.isEmpty {
            try await Task.sleep(for: .milliseconds(500))
            var still: [String] = []
            let final = ContinuousClock.now >= deadline
            for (key, finding) in await check(later, route: route, target: target) {
                switch finding {
                case .found(let c, let bytes, let why): report.add(c, bytes: bytes, example: why)
                case .again(let c, let bytes, let why):
                    if final { report.add(c, bytes: bytes, example: why) } else { still.append(key) }
                }
            }
            later = still
        }
        try await versions(route: route, target: target, into: &report)
        try await extras(route: route, target: target, into: &report)
        report.finished = objects.now()
        return report
    }

    /// A versioned dataset's noncurrent versions: each needs a copy on the target, compared as
    /// current objects are (stored size and MD5, or the contents read on both sides); the
    /// version backfill makes those missing first, and what it could not copy is missing.
    func versions(route: DatasetRoute, target: ResolvedPlacement, into report: inout VerificationReport) async throws {
        guard route.bucket.versioning != nil, let epoch = route.epoch else { return }
        let bucket = route.name
        do {
            try await VersionBackfill(objects: objects, bucket: bucket).run(parallelism: parallelism)
        } catch {
            objects.logger.warning("could not copy every noncurrent version", metadata: ["dataset": .string(bucket), "error": .string("\(error)")])
        }
        var cursor = VersionCursor(key: [])
        while true {
            let page = try await objects.catalog.uncopiedVersions(bucket: bucket, epoch: epoch, from: cursor, limit: 512)
            for v in page {
                report.add(.missing, bytes: v.size, example: "\(v.key) (version \(v.versionID)): noncurrent version without a target copy")
            }
            guard let last = page.last, page.count == 512 else { break }
            cursor = VersionCursor(key: Array(last.key.utf8), below: last.version)
        }
        cursor = VersionCursor(key: [])
        while true {
            let page = try await objects.catalog.versionsWithCopies(bucket: bucket, from: cursor, limit: 64)
            let findings = await withTaskGroup(of: Finding.self) { group in
                for (version, copy) in page {
                    group.addTask {
                        let name = "\(version.key) (version \(version.versionID))"
                        do {
                            var found: Finding
                            switch mode {
                            case .checksums: found = try await compareStored(version, copy, target: target)
                            case .full: found = try await compareContents(version, copy, route: route, target: target)
                            }
                            if case .found(let c, let bytes, let why) = found, c != .identical { found = .found(c, bytes, "\(name): \(why)") }
                            return found
                        } catch {
                            return .found(.unverifiable, 0, "\(name): \(error)")
                        }
                    }
                }
                var out: [Finding] = []
                for await f in group { out.append(f) }
                return out
            }
            for f in findings {
                switch f {
                case .found(let c, let bytes, let why), .again(let c, let bytes, let why): report.add(c, bytes: bytes, example: why)
                }
            }
            guard let last = page.last?.0, page.count == 64 else { break }
            cursor = VersionCursor(key: Array(last.key.utf8), below: last.version)
        }
    }

    func check(_ keys: [String], route: DatasetRoute, target: ResolvedPlacement) async -> [(String, Finding)] {
        await withTaskGroup(of: (Int, Finding).self) { group in
            var out = [(String, Finding)](keys.map { ($0, .again(.unverifiable, 0, "\($0): not checked")) })
            for (i, key) in keys.enumerated() {
                if i >= parallelism, let (j, f) = await group.next() { out[j].1 = f }
                group.addTask { (i, await check(key, route: route, target: target)) }
            }
            for await (j, f) in group { out[j].1 = f }
            return out
        }
    }

    func check(_ key: String, route: DatasetRoute, target: ResolvedPlacement) async -> Finding {
        let bucket = route.bucket.name
        do {
            guard let object = try await objects.catalog.object(bucket: bucket, key: key) else { return .found(.identical, 0, key) }
            let replica = try await objects.catalog.replica(bucket: bucket, key: key)
            guard let replica, replica.version == object.version else {
                let why = "\(key): no copy of its current version on the target"
                if let j = try await objects.catalog.journal(bucket: bucket, key: key), !j.dead { return .again(.missing, object.size, why) }
                return .found(.missing, object.size, why)
            }
            switch mode {
            case .checksums: return try await compareStored(object, replica, target: target)
            case .full: return try await compareContents(object, replica, route: route, target: target)
            }
        } catch {
            return .found(.unverifiable, 0, "\(key): \(error)")
        }
    }

    func compareStored(_ object: ObjectRecord, _ replica: ReplicaRecord, target: ResolvedPlacement) async throws -> Finding {
        let expected = target.sealer == nil ? object.size : SealedFormat.sealedLength(object.size)
        guard let stored = try await target.store.head(name: replica.blob) else {
            return .found(.missing, object.size, "\(object.key): the target object \(replica.blob) is gone")
        }
        guard stored.size == expected else {
            return .found(.different, object.size, "\(object.key): \(stored.size) bytes on the target, \(expected) expected")
        }
        guard let md5 = ETag.md5(of: object.etag), let copied = replica.md5 else {
            return .found(.unverifiable, object.size, "\(object.key): no MD5 to compare (multipart ETag \(object.etag))")
        }
        return Hex.encode(md5) == copied
            ? .found(.identical, object.size, object.key)
            : .found(.different, object.size, "\(object.key): MD5 \(copied) on the target, \(Hex.encode(md5)) expected")
    }

    func compareContents(_ object: ObjectRecord, _ replica: ReplicaRecord, route: DatasetRoute, target: ResolvedPlacement) async throws -> Finding {
        let source: (Int64, [UInt8])
        do {
            source = try await digest(object, in: route.primary)
        } catch {
            // Perhaps a write replacing it is under way: look again before concluding.
            return .again(.unverifiable, object.size, "\(object.key): the source copy cannot be read (\(error))")
        }
        let copy: (Int64, [UInt8])
        do {
            copy = try await digest(replica.applied(to: object), in: target)
        } catch StoreError.notFound {
            return .again(.missing, object.size, "\(object.key): the target object \(replica.blob) is gone")
        } catch {
            return .again(.different, object.size, "\(object.key): the target copy cannot be read (\(error))")
        }
        guard source.0 == copy.0, source.1 == copy.1 else {
            return .found(
                .different, object.size,
                "\(object.key): \(copy.0) bytes on the target (SHA-256 \(Hex.encode(copy.1).prefix(16))…), \(source.0) on the source "
                    + "(\(Hex.encode(source.1).prefix(16))…)"
            )
        }
        return .found(.identical, object.size, object.key)
    }

    /// Length and SHA-256 of the plaintext.
    func digest(_ record: ObjectRecord, in placement: ResolvedPlacement) async throws -> (Int64, [UInt8]) {
        var sha = SHA256()
        var n: Int64 = 0
        for try await chunk in try await objects.openPlain(record, range: nil, in: placement) {
            chunk.withUnsafeReadableBytes { sha.update(bufferPointer: $0) }
            n += Int64(chunk.readableBytes)
        }
        return (n, Array(sha.finalize()))
    }

    /// Target objects no object (or version copy) of the dataset is: listed under the target's prefix, checked
    /// twice (a copy being written, or a replaced copy being removed, is not extra).
    func extras(route: DatasetRoute, target: ResolvedPlacement, into report: inout VerificationReport) async throws {
        guard let prefix = target.prefix else { return }  // the shared local store: nothing to list per dataset
        let bucket = route.bucket.name
        var listed = try await target.store.listAll(prefix: prefix)
        func unexplained() async throws -> [StoredObject] {
            if target.sealer != nil {
                let blobs = try await objects.catalog.replicaBlobs(bucket: bucket)
                return listed.filter { !blobs.contains(DatasetSealer.payloadName(of: $0.name)) }
            }
            // Native: the object under a key of the dataset, or (versions kept apart) a copy of a version.
            let copies = route.targetKeepsVersionsApart ? try await objects.catalog.replicaBlobs(bucket: bucket) : []
            var out: [StoredObject] = []
            for o in listed where !copies.contains(o.name) {
                if try await objects.catalog.object(bucket: bucket, key: String(o.name.dropFirst(prefix.count))) == nil { out.append(o) }
            }
            return out
        }
        var suspects = try await unexplained()
        if !suspects.isEmpty {
            try await Task.sleep(for: .seconds(2))
            listed = suspects
            suspects = []
            for o in try await unexplained() where try await target.store.head(name: o.name) != nil { suspects.append(o) }
        }
        for o in suspects { report.add(.extra, bytes: o.size, example: "\(o.name): on the target, not an object of the dataset") }
    }
}
