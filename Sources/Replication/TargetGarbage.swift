import Catalog
import Datasets
import Foundation
import Logging
import Storage

/// Removes, at start (before any request or copy can be in flight), the sealed objects a crash
/// left on migration targets: copies written but never recorded. Only names the gateway makes
/// on sealed placements (32 hex digits, and their `.h` headers) under the target's prefix are
/// considered, so nothing else sharing the container is touched.
public enum TargetGarbage {
    public static func collect(catalog: any Catalog, backends: BackendRegistry, logger: Logger) async {
        guard let migrations = try? await catalog.migrations() else { return }
        for m in migrations where m.phase.mirrors && m.target.sealed {
            do {
                let target = try backends.resolve(m.target, dataset: m.bucket)
                let prefix = target.prefix ?? ""
                let names = try await target.store.listAll(prefix: prefix).map(\.name)
                let referenced = try await catalog.replicaBlobs(bucket: m.bucket)
                let orphans = names.filter { name in
                    let payload = DatasetSealer.payloadName(of: name)
                    return isSealedID(String(payload.dropFirst(prefix.count))) && !referenced.contains(payload)
                }
                guard !orphans.isEmpty else { continue }
                for batch in stride(from: 0, to: orphans.count, by: 500) {
                    try await target.store.delete(names: Array(orphans[batch..<min(batch + 500, orphans.count)]))
                }
                logger.info(
                    "removed unrecorded copies from a migration target",
                    metadata: ["dataset": .string(m.bucket), "count": .stringConvertible(orphans.count)])
            } catch {
                logger.warning("could not clean a migration target", metadata: ["dataset": .string(m.bucket), "error": .string("\(error)")])
            }
        }
    }

    static func isSealedID(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
