import Catalog
import Datasets
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Storage

/// The replication workers (DESIGN.md §3): the journal workers, which bring target copies up
/// to date after journaled writes, with retries, exponential backoff and a dead letter; and one
/// backfill per migrating dataset, (re)started whenever the catalog says one is unfinished.
/// Everything they do is recorded in the catalog as it happens, so kill -9 at any moment loses
/// nothing and a restart resumes.
public struct ReplicationService: Service {
    let objects: ObjectLayer
    let backoff: Backoff
    let workers: Int
    let poll: Duration
    /// Who claims journal entries (`ReplicationQueue.claim`): unique to this process.
    let owner: String
    /// How long a claim holds: a worker that dies leaves its entries to others after this long.
    let lease: TimeInterval

    public init(
        objects: ObjectLayer, owner: String, backoff: Backoff = Backoff(), workers: Int = 16, poll: Duration = .milliseconds(50),
        lease: TimeInterval = 300
    ) {
        self.objects = objects
        self.owner = owner
        self.backoff = backoff
        self.workers = workers
        self.poll = poll
        self.lease = lease
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await runJournal() }
            group.addTask { await runBackfills() }
            await group.waitForAll()
        }
    }

    // MARK: journal

    /// Up to `workers` entries in flight at any time, each claimed as soon as a worker is free
    /// (a long copy holds one worker, not the queue); an entry is held by one worker at a time.
    func runJournal() async {
        let running = NIOLockedValueBox(0)
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                var started = 0
                do {
                    let free = workers - running.withLockedValue { $0 }
                    let claimed = free > 0 ? try await objects.catalog.claim(owner: owner, lease: lease, limit: free, now: objects.now()) : []
                    // Per dataset: where its copies go, none (no longer mirroring: the entries
                    // are dropped), or unknown for now (released, for the next round).
                    var routes: [String: Result<DatasetRoute?, any Error>] = [:]
                    for e in claimed {
                        if routes[e.bucket] == nil {
                            do { routes[e.bucket] = .success(try await objects.routeIfMirroring(e.bucket)) } catch {
                                routes[e.bucket] = .failure(error)
                            }
                        }
                        guard case .success(let route) = routes[e.bucket] else {
                            _ = try? await objects.catalog.release(e, owner: owner)
                            continue
                        }
                        started += 1
                        running.withLockedValue { $0 += 1 }
                        group.addTask {
                            await apply(e, route: route)
                            running.withLockedValue { $0 -= 1 }
                        }
                    }
                } catch {
                    objects.logger.warning("replication journal unreadable", metadata: ["error": .string("\(error)")])
                }
                if started == 0 { try? await Task.sleep(for: poll) }
            }
        }
    }

    func apply(_ entry: JournalEntry, route: DatasetRoute?) async {
        do {
            if let route { _ = try await objects.replicate(route, key: entry.key) }
            if try await objects.catalog.finish(entry, owner: owner) == .lost {
                objects.logger.warning(
                    "a replication's claim was taken over before it finished",
                    metadata: [
                        "dataset": .string(entry.bucket), "key": .string(entry.key),
                    ])
            }
        } catch {
            let attempts = entry.attempts + 1
            let dead = backoff.isDead(afterAttempts: attempts)
            let delay = backoff.delay(afterAttempts: attempts, jitter: Double.random(in: 0...1))
            objects.observer.replicationFailure(backend: route?.migration?.target.backend ?? "unknown")
            if dead {
                objects.logger.error(
                    "replication dead-lettered",
                    metadata: [
                        "dataset": .string(entry.bucket), "key": .string(entry.key),
                        "attempts": .stringConvertible(attempts), "error": .string("\(error)"),
                    ])
            }
            _ = try? await objects.catalog.fail(entry, owner: owner, error: "\(error)", nextTry: objects.now().addingTimeInterval(delay), dead: dead)
        }
    }

    // MARK: backfill

    func runBackfills() async {
        let running = NIOLockedValueBox<[String: (epoch: Int, task: Task<Void, Never>)]>([:])
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let wanted = try await objects.catalog.migrations().filter { $0.phase.mirrors && $0.backfill.stage != .done }
                running.withLockedValue { tasks in
                    for (bucket, t) in tasks where !wanted.contains(where: { $0.bucket == bucket && $0.epoch == t.epoch }) {
                        t.task.cancel()
                        tasks[bucket] = nil
                    }
                    for m in wanted where tasks[m.bucket] == nil {
                        let objects = objects
                        tasks[m.bucket] = (
                            m.epoch,
                            Task {
                                do {
                                    try await Backfill(objects: objects, bucket: m.bucket).run()
                                } catch is CancellationError {
                                } catch {
                                    objects.logger.warning("backfill paused", metadata: ["dataset": .string(m.bucket), "error": .string("\(error)")])
                                    try? await Task.sleep(for: .seconds(2))
                                }
                                running.withLockedValue { if $0[m.bucket]?.epoch == m.epoch { $0[m.bucket] = nil } }
                            }
                        )
                    }
                }
            } catch {
                objects.logger.warning("migrations unreadable", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        running.withLockedValue { for t in $0.values { t.task.cancel() } }
    }
}
