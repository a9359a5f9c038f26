import ArgumentParser
import Catalog
import Datasets
import Foundation
import Gateway
import Logging
import Replication
import Sealing

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Move datasets to another placement without interruption (mirroring, backfill, verification, cutover).",
        subcommands: [Start.self, Status.self, Verify.self, Cutover.self, Rollback.self, Retire.self, Abort.self, Retry.self, Tune.self, Run.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start mirroring a dataset to a target placement; a running gateway backfills it.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option(help: "Target backend name.") var backend: String
        @Option(help: "Container (bucket) on the target backend.") var container = ""
        @Option(help: "Name prefix on the target.") var prefix = ""
        @Option(help: "Target layout: native or sealed.") var layout = "native"
        @Option(help: "Write mode: journaled or sync.") var mode = "journaled"
        @Option(help: "Backfill bandwidth limit, e.g. 50MiB (per second).") var bandwidth: String?
        @Option(help: "Backfill copies in flight.") var parallelism = 8
        @Option(help: "Why (recorded).") var why = "migration started"

        func run() async throws {
            guard let mode = WriteMode(rawValue: mode) else { throw ValidationError("--mode must be journaled or sync") }
            let limit = try bandwidth.map { text in
                guard let b = ByteCount.parse(text), b > 0 else { throw ValidationError("--bandwidth '\(text)' is not a byte rate") }
                return b
            }
            let target = Placement(backend: backend, container: container, prefix: prefix, layout: layout)
            let m = try await MigrationOps(options: options).start(
                dataset, target: target, mode: mode, bandwidth: limit, parallelism: parallelism, why: why)
            print("\(dataset): mirroring to \(m.target.description) (\(m.mode.rawValue)); the gateway backfills existing objects")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Phases, backfill progress, replication queue and verification of migrations.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String?
        @Flag(help: "Show every phase change.") var history = false

        func run() async throws {
            let catalog = try options.catalog()
            let all = try await catalog.migrations().filter { dataset == nil || $0.bucket == dataset }
            if all.isEmpty { print(dataset.map { "\($0): no migration (phase legacy)" } ?? "no migrations") }
            for m in all {
                print(MigrationOps.describe(m, journal: try await catalog.journalStats(bucket: m.bucket), now: Date()))
                if history {
                    for t in try await catalog.transitions(bucket: m.bucket) {
                        print(
                            "  \(ISO8601DateFormatter().string(from: t.at))  \(t.from.rawValue) → \(t.to.rawValue)  by "
                                + "\(t.who)\(t.forced ? " (FORCED)" : ""): \(t.why)"
                        )
                    }
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare source and target object by object; a clean report makes the dataset verified.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option(help: "full (read and hash both sides) or checksums (compare recorded checksums).") var mode = "full"
        @Option(help: "Where to write the JSON report (default: DATA_DIR/reports/).") var report: String?

        func run() async throws {
            guard let mode = Verifier.Mode(rawValue: mode) else { throw ValidationError("--mode must be full or checksums") }
            let r = try await MigrationOps(options: options).verify(dataset, mode: mode, reportPath: report)
            if !r.clean { throw ExitCode(2) }
        }
    }

    struct Cutover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve reads from the target (falling back to the source); writes stay mirrored.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Flag(help: "Cut over without a clean verification (recorded).") var force = false
        @Option(help: "Why (recorded).") var why = "cutover"

        func run() async throws {
            let m = try await MigrationOps(options: options).transition(.cutover, dataset, force: force, why: why)
            print("\(dataset): \(m.phase.rawValue); reads now come from \(m.target.description)")
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve reads from the source again (instant; writes were mirrored all along).")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option(help: "Why (recorded).") var why = "rollback"

        func run() async throws {
            let m = try await MigrationOps(options: options).transition(.rollback, dataset, force: false, why: why)
            print("\(dataset): \(m.phase.rawValue); reads come from \(m.source.description) again")
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach the source: the target becomes the dataset's only placement.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option(help: "Why (recorded).") var why = "source retired"
        @Option(help: "Seconds to wait for the last replications to complete.") var timeout = 120.0

        func run() async throws {
            let m = try await MigrationOps(options: options).retire(dataset, why: why, timeout: timeout)
            print("\(dataset): retired \(m.source.description); the dataset lives on \(m.target.description)")
            if m.source.sealed {
                print(
                    "the source copy is sealed under key id '\(m.source.keyring(of: dataset))': shred it with `passerelle keys shred "
                        + "\(m.source.keyring(of: dataset)) --version N --including-current` to make it unreadable"
                )
            } else {
                print("the source copy is left in place on \(m.source.description); delete it with the backend's own tools when you are ready")
            }
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a migration before cutover: back to legacy; the target copy is left for deletion.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option(help: "Why (recorded).") var why = "migration aborted"

        func run() async throws {
            let m = try await MigrationOps(options: options).transition(.abort, dataset, force: false, why: why)
            print("\(dataset): back to \(m.phase.rawValue); the copy on \(m.target.description) is no longer maintained and can be deleted")
        }
    }

    struct Tune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the write mode or backfill limits of a running migration.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option(help: "Write mode: journaled or sync.") var mode: String?
        @Option(help: "Backfill bandwidth limit, e.g. 50MiB (per second), or 'unlimited'.") var bandwidth: String?
        @Option(help: "Backfill copies in flight.") var parallelism: Int?

        func run() async throws {
            let mode = try mode.map { text in
                guard let m = WriteMode(rawValue: text) else { throw ValidationError("--mode must be journaled or sync") }
                return m
            }
            let limit: Int64?? = try bandwidth.map { text in
                if text == "unlimited" { return nil }
                guard let b = ByteCount.parse(text), b > 0 else { throw ValidationError("--bandwidth '\(text)' is not a byte rate") }
                return b
            }
            if let parallelism, !(1...256).contains(parallelism) { throw ValidationError("--parallelism must be between 1 and 256") }
            let m = try await MigrationOps(options: options).tune(dataset, mode: mode, bandwidth: limit, parallelism: parallelism)
            print(MigrationOps.describe(m, journal: try await options.catalog().journalStats(bucket: dataset), now: Date()))
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue dead-lettered replications again.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String

        func run() async throws {
            let n = try await options.catalog().retryDead(bucket: dataset, now: Date())
            print("\(dataset): \(n) replications queued again")
        }
    }
}

extension DatasetCommand {
    struct PhaseCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "phase", abstract: "Print a dataset's migration phase.")
        @OptionGroup var options: AdminOptions
        @Argument var name: String

        func run() async throws {
            let catalog = try options.catalog()
            guard try await catalog.bucket(name) != nil else { throw CommandFailure("no dataset named '\(name)'") }
            print(try await catalog.migration(name)?.phase.rawValue ?? Phase.legacy.rawValue)
        }
    }
}

/// The migration commands' way to the library (`MigrationController`): an object layer over
/// the configured backends (with the keyring when a sealed placement is involved), the
/// operator as who asks, the CLI's audit log; refusals become command failures.
struct MigrationOps {
    let options: AdminOptions

    static var who: String { (ProcessInfo.processInfo.environment["USER"] ?? "operator") + "@cli" }

    func controller<T>(keys: Bool, _ body: (MigrationController) async throws -> T) async throws -> T {
        let registry = try await options.registry(keyring: keys ? try options.keyring() : nil)
        var logger = Logger(label: "passerelle")
        logger.logLevel = .warning
        let objects = ObjectLayer(catalog: try options.catalog(), backends: registry, logger: logger)
        let controller = MigrationController(objects: objects, who: Self.who, principal: AdminOptions.principal, audit: try options.auditLog())
        do {
            let result = try await body(controller)
            await registry.shutdown()
            return result
        } catch let e as MigrationError {
            await registry.shutdown()
            throw CommandFailure(e.description)
        } catch {
            await registry.shutdown()
            throw error
        }
    }

    /// Whether the dataset's migration (or the one about to start) involves a sealed placement.
    func sealed(_ dataset: String, target: Placement? = nil) async throws -> Bool {
        let catalog = try options.catalog()
        let m = try await catalog.migration(dataset)
        let placement = try await catalog.bucket(dataset)?.placement
        return [target, m?.source, m?.target, placement].contains { $0?.sealed == true }
    }

    func start(
        _ dataset: String, target: Placement, mode: WriteMode, bandwidth: Int64?, parallelism: Int, why: String
    ) async throws -> MigrationRecord {
        try await controller(keys: try await sealed(dataset, target: target)) {
            try await $0.start(dataset, target: target, mode: mode, bandwidth: bandwidth, parallelism: parallelism, why: why)
        }
    }

    func transition(_ command: MigrationCommand, _ dataset: String, force: Bool, why: String) async throws -> MigrationRecord {
        try await controller(keys: false) { try await $0.transition(command, dataset, force: force, why: why) }
    }

    func retire(_ dataset: String, why: String, timeout: Double) async throws -> MigrationRecord {
        // Retirement may copy the last noncurrent versions of a versioned dataset (with its keys).
        let versioned = try await options.catalog().bucket(dataset)?.versioning != nil
        return try await controller(keys: versioned ? try await sealed(dataset) : false) { try await $0.retire(dataset, why: why, timeout: timeout) }
    }

    func tune(_ dataset: String, mode: WriteMode?, bandwidth: Int64??, parallelism: Int?) async throws -> MigrationRecord {
        try await controller(keys: false) { try await $0.tune(dataset, mode: mode, bandwidth: bandwidth, parallelism: parallelism) }
    }

    /// Runs a verification (see `MigrationController.verify`) and says what it found.
    func verify(_ dataset: String, mode: Verifier.Mode, reportPath: String?, quiet: Bool = false) async throws -> VerificationReport {
        let v = try await controller(keys: try await sealed(dataset)) {
            try await $0.verify(dataset, mode: mode, reportPath: reportPath, reportDirectory: "\(options.dataDir)/reports")
        }
        if !quiet {
            print(v.report.summary)
            print("  report: \(v.path)")
            switch v.phase {
            case .mirroring?: print("\(dataset): back to mirroring")
            case .verified?: print("\(dataset): verified")
            default: break
            }
        }
        return v.report
    }

    static func describe(_ m: MigrationRecord, journal: JournalStats, now: Date) -> String {
        let b = m.backfill
        let done = b.copied + b.skipped + b.imported
        var lines = [
            "\(m.bucket): \(m.phase.rawValue) (\(m.mode.rawValue)), \(m.source.description) → \(m.target.description)",
            "  backfill: \(b.stage.rawValue), \(done)/\(b.total) objects examined, \(b.copied + b.imported) copied "
                + "(\(ByteCount.format(b.copiedBytes))), \(b.skipped) already current, \(b.imported) imported, \(b.failed) deferred, runs \(b.runs)",
            "  queue: \(journal.pending) pending, \(journal.dead) dead-lettered, lag "
                + "\(String(format: "%.1f", journal.oldestPending.map { now.timeIntervalSince($0) } ?? 0)) s",
        ]
        if let w = journal.worst {
            lines.append(
                "  failing: \(journal.failing) key\(journal.failing == 1 ? "" : "s"); \(w.key) after \(w.attempts) "
                    + "attempt\(w.attempts == 1 ? "" : "s")"
                    + "\(w.dead ? " (dead-lettered)" : ""): \(w.error.prefix(240))")
        }
        if let at = m.verifiedAt {
            lines.append("  verification: \(m.verifiedClean ? "clean" : "NOT CLEAN") at \(ISO8601DateFormatter().string(from: at))")
        }
        if let f = m.lastFailure { lines.append("  last replication failure: \(ISO8601DateFormatter().string(from: f))") }
        return lines.joined(separator: "\n")
    }
}
