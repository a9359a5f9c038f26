import Datasets

/// The backfill's transfers in flight. A copy holds a slot only while its bytes travel: the
/// catalog reads before it and the bookkeeping after it (the audit entry, which waits for the
/// log's group commit, then the catalog row) overlap other transfers instead of holding a place.
actor CopySlots: TransferSlots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) {
        free = max(1, count)
    }

    private func acquire() async {
        if free > 0 {
            free -= 1
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
    }

    private func release() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }

    nonisolated func with<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }
}
