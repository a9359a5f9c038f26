import Catalog
import Foundation
import NIOConcurrencyHelpers
import S3Protocol
import Sealing
import Storage

/// A dataset's placement made concrete: its store, and how a client key becomes a backend name.
public struct ResolvedPlacement: Sendable {
    public let store: any ObjectStore
    /// nil: fresh random ids per write (the local store, whose old blob stays readable until
    /// the catalog has moved on); otherwise objects live under `prefix + key`, in place.
    public let prefix: String?
    /// Set on a `sealed` placement: objects are sealed under the dataset's keys and named by
    /// fresh opaque ids (`prefix + id`), never by their key.
    public let sealer: DatasetSealer?

    public init(store: any ObjectStore, prefix: String?, sealer: DatasetSealer? = nil) {
        self.store = store
        self.prefix = prefix
        self.sealer = sealer
    }

    /// The backend name a new write of `key` goes to.
    public func name(for key: String) -> String {
        if sealer != nil { return (prefix ?? "") + FileSystemStore.newID() }
        return prefix.map { $0 + key } ?? FileSystemStore.newID()
    }

    /// Writes of one key replace the same backend object, so they are serialised.
    public var inPlace: Bool { prefix != nil && sealer == nil }

    /// What the backend may keep in clear next to an object: nothing on a sealed placement.
    public func attributes(_ headers: ObjectHeaders) -> BlobAttributes {
        sealer == nil ? headers.attributes : .none
    }

    /// The backend objects of a stored object: a sealed object also has its header object.
    public func names(of blob: String) -> [String] {
        sealer == nil ? [blob] : [blob, DatasetSealer.headerName(of: blob)]
    }
}

/// Backends by name, and the placement new datasets get.
public final class BackendRegistry: Sendable {
    public let backends: [String: any Backend]
    /// Placement of a dataset created through S3 CreateBucket; `{dataset}` in the prefix is
    /// replaced by the dataset's name.
    public let defaultPlacement: Placement
    /// The dataset keys of sealed placements (nil when no master key was given).
    public let keyring: KeyringFile?
    private let cache = NIOLockedValueBox<[String: ResolvedPlacement]>([:])

    public init(backends: [String: any Backend], defaultPlacement: Placement, keyring: KeyringFile? = nil) {
        self.backends = backends
        self.defaultPlacement = defaultPlacement
        self.keyring = keyring
    }

    public func placement(forNewDataset name: String) -> Placement {
        var p = defaultPlacement
        p.prefix = p.prefix.replacingOccurrences(of: "{dataset}", with: name)
        return p
    }

    /// The placement of `dataset` (sealed placements are keyed by their dataset's KEK).
    public func resolve(_ p: Placement, dataset: String) throws -> ResolvedPlacement {
        let id = "\(p.backend)\u{0}\(p.container)\u{0}\(p.prefix)\u{0}\(p.layout)\u{0}\(p.sealed ? p.keyring(of: dataset) : "")"
        if let hit = cache.withLockedValue({ $0[id] }) { return hit }
        guard let backend = backends[p.backend] else {
            throw DatasetError(.backendNotConfigured, dataset: dataset, subject: p.backend, "the dataset's backend is not configured on this gateway")
        }
        guard Placement.layouts.contains(p.layout) else {
            throw DatasetError(.layoutNotSupported, dataset: dataset, subject: p.layout, "the layout is not supported by this gateway")
        }
        var sealer: DatasetSealer?
        if p.sealed {
            guard let keyring else {
                throw DatasetError(.keysUnavailable, dataset: dataset, "the dataset is sealed and this gateway has no master key")
            }
            sealer = DatasetSealer(dataset: p.keyring(of: dataset), keyring: keyring)
        }
        let store = try backend.store(container: p.container)
        let local = backend.kind == FileSystemBackend.kindName
        let resolved = ResolvedPlacement(store: store, prefix: local ? nil : p.prefix, sealer: sealer)
        cache.withLockedValue { $0[id] = resolved }
        return resolved
    }

    public func shutdown() async {
        for b in backends.values { await b.shutdown() }
    }
}

extension ObjectHeaders {
    /// What a backend keeps natively next to the object (the catalog stays the truth); values
    /// beyond ASCII as RFC 2047 encoded-words, as S3 returns them (backends take ASCII headers).
    public var attributes: BlobAttributes {
        BlobAttributes(contentType: contentType, metadata: user.mapValues(MetadataEncoding.encode))
    }
}
