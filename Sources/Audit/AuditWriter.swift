import Dispatch
import Foundation
import Synchronization

/// Group commit in front of `AuditLog`: callers wait until their entry is durable and signed,
/// and all entries that arrive while a transaction is on disk go into the next one, so the
/// cost of an fsync and a signature is shared by every request in flight. Transactions run on
/// a thread of their own: SQLite blocks (on the disk, or for up to its busy timeout behind
/// another process's transaction, such as `audit expire` from the CLI), and a blocked writer
/// must never hold up the threads that serve requests.
public final class AuditWriter: Sendable {
    public let log: any AuditLogStoring
    struct State {
        /// Events that must be committed together (a request and the objects it read) travel as one group.
        var pending: [(events: [AuditEvent], done: CheckedContinuation<UInt64, any Error>)] = []
        /// Entries in the transaction being written.
        var writing = 0
        var batches: UInt64 = 0
    }

    let state = Mutex(State())
    let wake = DispatchSemaphore(value: 0)

    public init(log: any AuditLogStoring) {
        self.log = log
        let thread = Thread { [self] in self.run() }
        thread.name = "audit-writer"
        thread.start()
    }

    /// Returns the entry's index once it is committed.
    @discardableResult
    public func append(_ event: AuditEvent) async throws -> UInt64 {
        try await append([event])
    }

    /// Appends events in order in one transaction; returns the first one's index once committed.
    @discardableResult
    public func append(_ events: [AuditEvent]) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { done in
            let first = state.withLock { s in
                s.pending.append((events, done))
                return s.pending.count == 1
            }
            if first { wake.signal() }
        }
    }

    public var batches: UInt64 { state.withLock { $0.batches } }

    func run() {
        while true {
            wake.wait()
            while true {
                let batch = state.withLock { s in
                    defer { s.pending = [] }
                    s.writing = s.pending.reduce(0) { $0 + $1.events.count }
                    return s.pending
                }
                guard !batch.isEmpty else { break }
                do {
                    var index = try log.append(batch.flatMap(\.events))
                    state.withLock { s in
                        s.batches += 1
                        s.writing = 0
                    }
                    for p in batch {
                        p.done.resume(returning: index)
                        index += UInt64(p.events.count)
                    }
                } catch {
                    state.withLock { $0.writing = 0 }
                    for p in batch { p.done.resume(throwing: error) }
                }
            }
        }
    }
}
