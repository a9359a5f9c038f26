import Foundation
import NIOCore

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
