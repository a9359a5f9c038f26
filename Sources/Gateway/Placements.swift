import Catalog
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import S3Protocol
import Storage

/// A dataset's placement made concrete: its store, and how a client key becomes a backend name.
public struct ResolvedPlacement: Sendable {
    public let store: any ObjectStore
    /// nil: fresh random ids per write (the local store, whose old blob stays readable until
    /// the catalog has moved on); otherwise objects live under `prefix + key`, in place.
    public let prefix: String?

    public init(store: any ObjectStore, prefix: String?) {
        self.store = store
        self.prefix = prefix
    }

    func name(for key: String) -> String {
        prefix.map { $0 + key } ?? FileSystemStore.newID()
    }

    /// Writes of one key replace the same backend object, so they are serialised.
    var inPlace: Bool { prefix != nil }
}

/// A configured backend: gives the store for one of its containers.
public protocol Backend: Sendable {
    var kind: String { get }
    /// Where it is, for operators (no secrets).
    var location: String { get }
    func store(container: String) throws -> any ObjectStore
    /// Connectivity, credentials and capabilities, as lines for `backend check`; throws a
    /// `StoreError` whose message says what is wrong.
    func check(container: String?) async throws -> [String]
    func shutdown() async
}

/// Backends by name, and the placement new datasets get.
public final class BackendRegistry: Sendable {
    public let backends: [String: any Backend]
    /// Placement of a dataset created through S3 CreateBucket; `{dataset}` in the prefix is
    /// replaced by the dataset's name.
    public let defaultPlacement: Placement
    private let cache = NIOLockedValueBox<[String: ResolvedPlacement]>([:])

    public init(backends: [String: any Backend], defaultPlacement: Placement) {
        self.backends = backends
        self.defaultPlacement = defaultPlacement
    }

    public func placement(forNewDataset name: String) -> Placement {
        var p = defaultPlacement
        p.prefix = p.prefix.replacingOccurrences(of: "{dataset}", with: name)
        return p
    }

    public func resolve(_ p: Placement) throws -> ResolvedPlacement {
        let id = "\(p.backend)\u{0}\(p.container)\u{0}\(p.prefix)\u{0}\(p.layout)"
        if let hit = cache.withLockedValue({ $0[id] }) { return hit }
        guard let backend = backends[p.backend] else {
            throw S3Error(.serviceUnavailable, "The dataset's backend '\(p.backend)' is not configured on this gateway.")
        }
        guard p.layout == "native" else {
            throw S3Error(.notImplemented, "Layout '\(p.layout)' is not supported by this gateway.")
        }
        let store = try backend.store(container: p.container)
        let resolved = ResolvedPlacement(store: store, prefix: backend.kind == FileSystemBackend.kindName ? nil : p.prefix)
        cache.withLockedValue { $0[id] = resolved }
        return resolved
    }

    public func shutdown() async {
        for b in backends.values { await b.shutdown() }
    }
}

/// The embedded local store (blobs under random ids).
public struct FileSystemBackend: Backend {
    public static let kindName = "filesystem"
    public var kind: String { Self.kindName }
    public let store: FileSystemStore
    public var location: String { store.root }

    public init(store: FileSystemStore) {
        self.store = store
    }

    public func store(container: String) throws -> any ObjectStore { store }

    public func check(container: String?) async throws -> [String] {
        let probe = FileSystemStore.newID()
        _ = try await store.put(name: probe, length: 5, body: BufferSequence(ByteBuffer(string: "probe")), attributes: .none)
        try await store.delete(name: probe)
        return ["writable: \(store.root)"]
    }

    public func shutdown() async {}
}
