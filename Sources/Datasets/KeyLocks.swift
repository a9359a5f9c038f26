/// Serialises the writes and deletes of one key (and the replication copies of it), where
/// they replace the same backend object or must land in order. One process today; a
/// database lock (an advisory lock per key) when several gateways share the catalog.
public protocol KeyLocking: Sendable {
    /// Runs `body` holding the lock named `name`, waiting for it first.
    func with<T: Sendable>(_ name: String, _ body: @Sendable () async throws -> T) async throws -> T
}

/// Key locks within this process: waiters queue in order.
public actor InProcessKeyLocks: KeyLocking {
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    private func acquire(_ key: String) async {
        guard waiting[key] != nil else {
            waiting[key] = []
            return
        }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    private func release(_ key: String) {
        guard var queue = waiting[key], !queue.isEmpty else {
            waiting[key] = nil
            return
        }
        let next = queue.removeFirst()
        waiting[key] = queue
        next.resume()
    }

    public nonisolated func with<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let result = try await body()
            await release(key)
            return result
        } catch {
            await release(key)
            throw error
        }
    }
}
