import ArgumentParser
import Catalog
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
            let m = try await MigrationOps(options: options).start(dataset, target: target, mode: mode, bandwidth: limit, parallelism: parallelism, why: why)
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
                        print("  \(ISO8601DateFormatter().string(from: t.at))  \(t.from.rawValue) → \(t.to.rawValue)  by \(t.who)\(t.forced ? " (FORCED)" : ""): \(t.why)")
                    }
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Compare source and target object by object; a clean report makes the dataset verified.")
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
                print("the source copy is sealed under key id '\(m.source.keyring(of: dataset))': shred it with `passerelle keys shred \(m.source.keyring(of: dataset)) --version N --including-current` to make it unreadable")
            } else {
                print("the source copy is left in place on \(m.source.description); delete it with the backend's own tools when you are ready")
            }
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a migration before cutover: back to legacy; the target copy is left for deletion.")
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
            let catalog = try options.catalog()
            guard let m = try await catalog.migration(dataset), m.phase.mirrors else { throw CommandFailure("\(dataset): not mirroring to a target") }
            try await catalog.tuneMigration(bucket: dataset, mode: mode, bandwidth: limit, parallelism: parallelism)
            print(MigrationOps.describe(try await catalog.migration(dataset) ?? m, journal: try await catalog.journalStats(bucket: dataset), now: Date()))
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

/// The migration operations the commands and the plan runner share.
struct MigrationOps {
    let options: AdminOptions

    static var who: String { (ProcessInfo.processInfo.environment["USER"] ?? "operator") + "@cli" }

    func start(_ dataset: String, target: Placement, mode: WriteMode, bandwidth: Int64?, parallelism: Int, why: String) async throws -> MigrationRecord {
        let catalog = try options.catalog()
        guard let b = try await catalog.bucket(dataset) else { throw CommandFailure("no dataset named '\(dataset)'") }
        let current = try await catalog.migration(dataset)
        let source = current?.phase == .retired ? current?.target ?? b.placement : b.placement
        guard !target.sameLocation(as: source) else { throw CommandFailure("the target is the dataset's current placement (\(source.description))") }
        guard (1...256).contains(parallelism) else { throw CommandFailure("--parallelism must be between 1 and 256") }
        do {
            _ = try PhaseMachine.check(.start, migration: current, journal: JournalStats())
        } catch let r as PhaseRefusal { throw CommandFailure("\(dataset): \(r.description)") }
        var target = target
        let ring = target.sealed || source.sealed ? try options.keyring() : nil
        if target.sealed, source.sealed, target.keyring(of: dataset) == source.keyring(of: dataset) {
            // Own keys for the target copy, so retiring the source can shred the source's.
            target.keyID = "\(dataset).m\(Int(Date().timeIntervalSince1970))"
        }
        if target.sealed { try ring?.ensureKeys(for: target.keyring(of: dataset)) }
        let registry = try await options.registry(keyring: ring)
        do {
            _ = try registry.resolve(target, dataset: dataset)
            await registry.shutdown()
        } catch {
            await registry.shutdown()
            throw CommandFailure("the target placement cannot be used: \(error)")
        }
        let record = MigrationRecord(bucket: dataset, source: source, target: target, mode: mode, bandwidth: bandwidth, parallelism: parallelism,
                                     started: Date())
        let started: MigrationRecord
        do {
            started = try await catalog.startMigration(record, transition: PhaseTransition(bucket: dataset, from: .legacy, to: .mirroring,
                                                                                          who: Self.who, at: Date(), why: why))
        } catch CatalogError.phase(let why) { throw CommandFailure(why) }
        try await options.audit("phase.mirroring", dataset: dataset, detail: "migration to \(target.description) (\(mode.rawValue)): \(why)")
        return started
    }

    func transition(_ command: MigrationCommand, _ dataset: String, force: Bool, why: String) async throws -> MigrationRecord {
        let catalog = try options.catalog()
        guard try await catalog.bucket(dataset) != nil else { throw CommandFailure("no dataset named '\(dataset)'") }
        let m = try await catalog.migration(dataset)
        let (from, to, forced) = try await transitionCheck(command, dataset, m, catalog: catalog, force: force)
        do {
            let done = try await catalog.changePhase(PhaseTransition(bucket: dataset, from: from, to: to, who: Self.who, at: Date(), why: why, forced: forced))
            try await options.audit("phase.\(to.rawValue)", dataset: dataset, detail: "\(from.rawValue) → \(to.rawValue)\(forced ? " (forced)" : ""): \(why)")
            return done
        } catch CatalogError.phase(let why) {
            throw CommandFailure(why)
        } catch CatalogError.notReady(let why) {
            throw CommandFailure(why)
        }
    }

    /// Retires the source once every object's target copy is current. Under a steady write
    /// load the journal is rarely empty, so a journaled dataset is switched to sync writes
    /// first (each write then commits with its target copy), and the retirement is retried
    /// until the last queued replications are done.
    func retire(_ dataset: String, why: String, timeout: Double) async throws -> MigrationRecord {
        let catalog = try options.catalog()
        guard let m = try await catalog.migration(dataset) else { throw CommandFailure("\(dataset): no migration") }
        _ = try await transitionCheck(.retire, dataset, m, catalog: catalog, force: false)
        if m.mode == .journaled { try await catalog.tuneMigration(bucket: dataset, mode: .sync, bandwidth: nil, parallelism: nil) }
        let deadline = Date().addingTimeInterval(timeout)
        var waiting = ""
        while Date() < deadline {
            do {
                let done = try await catalog.changePhase(PhaseTransition(bucket: dataset, from: .cutover, to: .retired, who: Self.who, at: Date(), why: why))
                try await options.audit("phase.retired", dataset: dataset, detail: "cutover → retired: \(why)")
                if m.mode == .journaled { try await catalog.tuneMigration(bucket: dataset, mode: .journaled, bandwidth: nil, parallelism: nil) }
                return done
            } catch CatalogError.notReady(let why) {
                waiting = why
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        if m.mode == .journaled { try await catalog.tuneMigration(bucket: dataset, mode: .journaled, bandwidth: nil, parallelism: nil) }
        throw CommandFailure("\(dataset): \(waiting) after \(Int(timeout)) s")
    }

    func transitionCheck(_ command: MigrationCommand, _ dataset: String, _ m: MigrationRecord?, catalog: SQLiteCatalog,
                         force: Bool) async throws -> (from: Phase, to: Phase, forced: Bool) {
        do {
            return try PhaseMachine.check(command, migration: m, journal: try await catalog.journalStats(bucket: dataset), force: force)
        } catch let r as PhaseRefusal {
            throw CommandFailure("\(dataset): \(r.description)" + (r.forcible ? " (--force overrides, and is recorded)" : ""))
        }
    }

    /// Runs a verification, writes its report, records it, and makes a clean mirroring dataset verified.
    func verify(_ dataset: String, mode: Verifier.Mode, reportPath: String?, quiet: Bool = false) async throws -> VerificationReport {
        let catalog = try options.catalog()
        guard let m = try await catalog.migration(dataset), m.phase.mirrors else { throw CommandFailure("\(dataset): not mirroring to a target") }
        let ring = m.source.sealed || m.target.sealed ? try options.keyring() : nil
        let registry = try await options.registry(keyring: ring)
        var logger = Logger(label: "passerelle")
        logger.logLevel = .warning
        let state = GatewayState(catalog: catalog, backends: registry, credentials: CredentialStore(named: [:]), region: "", logger: logger)
        let report: VerificationReport
        do {
            report = try await Verifier(state: state, mode: mode).run(dataset: dataset)
            await registry.shutdown()
        } catch {
            await registry.shutdown()
            throw CommandFailure("\(dataset): verification failed to run: \(error)")
        }
        let json = try report.json()
        let path = reportPath ?? "\(options.dataDir)/reports/\(dataset)-\(Int(report.started.timeIntervalSince1970)).json"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try json.write(to: URL(fileURLWithPath: path))
        try await catalog.recordVerification(bucket: dataset, at: report.started, clean: report.clean, report: String(decoding: json, as: UTF8.self))
        try await options.audit("verification", dataset: dataset, detail: "\(mode.rawValue): " + report.summary.split(separator: "\n").joined(separator: "; "),
                                result: report.clean ? "ok" : "failed")
        if !quiet {
            print(report.summary)
            print("  report: \(path)")
        }
        if !report.clean, let now = try await catalog.migration(dataset), now.phase == .verified {
            _ = try await catalog.changePhase(PhaseTransition(bucket: dataset, from: .verified, to: .mirroring, who: Self.who, at: Date(),
                                                              why: "verification not clean (\(mode.rawValue))"))
            try await options.audit("phase.mirroring", dataset: dataset, detail: "verified → mirroring: verification not clean")
            if !quiet { print("\(dataset): back to mirroring") }
        }
        if report.clean, let now = try await catalog.migration(dataset), now.phase == .mirroring,
           (try? PhaseMachine.check(.verified, migration: now, journal: try await catalog.journalStats(bucket: dataset))) != nil {
            _ = try await catalog.changePhase(PhaseTransition(bucket: dataset, from: .mirroring, to: .verified, who: Self.who, at: Date(),
                                                              why: "clean verification (\(mode.rawValue))"))
            try await options.audit("phase.verified", dataset: dataset, detail: "mirroring → verified: clean verification")
            if !quiet { print("\(dataset): verified") }
        }
        return report
    }

    static func describe(_ m: MigrationRecord, journal: JournalStats, now: Date) -> String {
        let b = m.backfill
        let done = b.copied + b.skipped + b.imported
        var lines = ["\(m.bucket): \(m.phase.rawValue) (\(m.mode.rawValue)), \(m.source.description) → \(m.target.description)",
                     "  backfill: \(b.stage.rawValue), \(done)/\(b.total) objects examined, \(b.copied + b.imported) copied (\(ByteCount.format(b.copiedBytes))), \(b.skipped) already current, \(b.imported) imported, \(b.failed) deferred, runs \(b.runs)",
                     "  queue: \(journal.pending) pending, \(journal.dead) dead-lettered, lag \(String(format: "%.1f", journal.oldestPending.map { now.timeIntervalSince($0) } ?? 0)) s"]
        if let w = journal.worst {
            lines.append("  failing: \(journal.failing) key\(journal.failing == 1 ? "" : "s"); \(w.key) after \(w.attempts) attempt\(w.attempts == 1 ? "" : "s")"
                         + "\(w.dead ? " (dead-lettered)" : ""): \(w.error.prefix(240))")
        }
        if let at = m.verifiedAt {
            lines.append("  verification: \(m.verifiedClean ? "clean" : "NOT CLEAN") at \(ISO8601DateFormatter().string(from: at))")
        }
        if let f = m.lastFailure { lines.append("  last replication failure: \(ISO8601DateFormatter().string(from: f))") }
        return lines.joined(separator: "\n")
    }
}
