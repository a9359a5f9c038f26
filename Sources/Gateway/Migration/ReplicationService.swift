import Catalog
import Foundation
import Logging
import NIOConcurrencyHelpers
import Replication
import ServiceLifecycle
import Storage

/// The gateway's replication workers (DESIGN.md §3): the journal workers, which bring target
/// copies up to date after journaled writes, with retries, exponential backoff and a dead
/// letter; and one backfill per migrating dataset, (re)started whenever the catalog says one
/// is unfinished. Everything they do is recorded in the catalog as it happens, so kill -9 at
/// any moment loses nothing and a restart resumes.
public struct ReplicationService: Service {
    let state: GatewayState
    let backoff: Backoff
    let workers: Int
    let poll: Duration

    public init(state: GatewayState, backoff: Backoff = Backoff(), workers: Int = 16, poll: Duration = .milliseconds(50)) {
        self.state = state
        self.backoff = backoff
        self.workers = workers
        self.poll = poll
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await runJournal() }
            group.addTask { await runBackfills() }
            await group.waitForAll()
        }
    }

    // MARK: journal

    /// Up to `workers` entries in flight at any time, each taken as soon as a worker is free
    /// (a long copy holds one worker, not the queue); an entry is never taken twice at once.
    func runJournal() async {
        let replicator = Replicator(state: state)
        let running = NIOLockedValueBox<Set<String>>([])
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                var started = 0
                do {
                    let free = workers - running.withLockedValue { $0.count }
                    let due = free > 0 ? try await state.catalog.dueJournal(now: state.now(), limit: free + running.withLockedValue { $0.count }) : []
                    // Per dataset: where its copies go, none (no longer mirroring: the entries
                    // are dropped), or unknown for now (left for the next round).
                    var routes: [String: Result<DatasetRoute?, any Error>] = [:]
                    for e in due {
                        let id = e.bucket + "\u{0}" + e.key
                        guard started < free, running.withLockedValue({ $0.insert(id).inserted }) else { continue }
                        if routes[e.bucket] == nil {
                            do { routes[e.bucket] = .success(try await routeIfMirroring(e.bucket)) } catch { routes[e.bucket] = .failure(error) }
                        }
                        guard case .success(let route) = routes[e.bucket] else {
                            running.withLockedValue { _ = $0.remove(id) }
                            continue
                        }
                        started += 1
                        group.addTask {
                            await apply(e, route: route, replicator: replicator)
                            running.withLockedValue { _ = $0.remove(id) }
                        }
                    }
                } catch {
                    state.logger.warning("replication journal unreadable", metadata: ["error": .string("\(error)")])
                }
                if started == 0 { try? await Task.sleep(for: poll) }
            }
        }
    }

    func routeIfMirroring(_ bucket: String) async throws -> DatasetRoute? {
        guard let b = try await state.catalog.bucket(bucket) else { return nil }
        let r = try await S3Responder(state: state).route(b)
        return r.mirrors ? r : nil
    }

    func apply(_ entry: JournalEntry, route: DatasetRoute?, replicator: Replicator) async {
        do {
            if let route { _ = try await replicator.sync(route, key: entry.key) }
            try await state.catalog.finishJournal(entry)
        } catch {
            let attempts = entry.attempts + 1
            let dead = backoff.isDead(afterAttempts: attempts)
            let delay = backoff.delay(afterAttempts: attempts, jitter: Double.random(in: 0...1))
            state.metrics.replicationFailures(backend: route?.migration?.target.backend ?? "unknown").increment()
            if dead {
                state.logger.error("replication dead-lettered", metadata: ["dataset": .string(entry.bucket), "key": .string(entry.key),
                                                                           "attempts": .stringConvertible(attempts), "error": .string("\(error)")])
            }
            try? await state.catalog.failJournal(entry, error: "\(error)", nextTry: state.now().addingTimeInterval(delay), dead: dead)
        }
    }

    // MARK: backfill

    func runBackfills() async {
        let running = NIOLockedValueBox<[String: (epoch: Int, task: Task<Void, Never>)]>([:])
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let wanted = try await state.catalog.migrations().filter { $0.phase.mirrors && $0.backfill.stage != .done }
                running.withLockedValue { tasks in
                    for (bucket, t) in tasks where !wanted.contains(where: { $0.bucket == bucket && $0.epoch == t.epoch }) {
                        t.task.cancel()
                        tasks[bucket] = nil
                    }
                    for m in wanted where tasks[m.bucket] == nil {
                        let state = state
                        tasks[m.bucket] = (m.epoch, Task {
                            do {
                                try await Backfill(state: state, bucket: m.bucket).run()
                            } catch is CancellationError {
                            } catch {
                                state.logger.warning("backfill paused", metadata: ["dataset": .string(m.bucket), "error": .string("\(error)")])
                                try? await Task.sleep(for: .seconds(2))
                            }
                            running.withLockedValue { if $0[m.bucket]?.epoch == m.epoch { $0[m.bucket] = nil } }
                        })
                    }
                }
            } catch {
                state.logger.warning("migrations unreadable", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        running.withLockedValue { for t in $0.values { t.task.cancel() } }
    }
}
