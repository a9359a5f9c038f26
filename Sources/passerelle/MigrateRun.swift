import ArgumentParser
import Catalog
import Foundation
import Gateway
import Replication

extension MigrateCommand {
    /// Drives a migration plan: each wave's datasets are started, backfilled (by the running
    /// gateway), verified, cut over when the plan says so, and retired if asked; waves run in
    /// order. Every decision is taken from the catalog's state (`PlanAction`), so running the
    /// plan again resumes it.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a YAML migration plan (resumable); --dry-run shows what it would do.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The plan (YAML).") var plan: String
        @Flag(help: "Show what would happen, change nothing.") var dryRun = false
        @Option(help: "Seconds between progress refreshes.") var interval = 1.0
        @Option(help: "Verification attempts before the run stops on an unclean report.") var verifyAttempts = 3

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: plan) else { throw CommandFailure("cannot read the plan \(plan)") }
            let parsed: MigrationPlan
            do { parsed = try MigrationPlan.parse(String(decoding: data, as: UTF8.self)) } catch let e as PlanError {
                throw CommandFailure(e.description)
            }
            let catalog = try options.catalog()
            for wave in parsed.waves {
                for step in wave.steps where try await catalog.bucket(step.dataset) == nil {
                    throw CommandFailure("\(wave.name): no dataset named '\(step.dataset)'")
                }
            }
            if dryRun { return try await showDryRun(parsed, catalog: catalog) }
            try await MigrationOps(options: options).controller(
                keys: try await parsed.waves.flatMap(\.steps).asyncContains { step in
                    try await MigrationOps(options: options).sealed(step.dataset, target: step.target)
                }
            ) { controller in
                let runner = PlanRunner(
                    controller: controller, catalog: catalog, why: "plan \(plan)", verifyAttempts: verifyAttempts,
                    reportDirectory: "\(options.dataDir)/reports")
                try await run(parsed, runner: runner, catalog: catalog)
            }
        }

        func run(_ parsed: MigrationPlan, runner: PlanRunner, catalog: SQLiteCatalog) async throws {
            let board = ProgressBoard()
            for wave in parsed.waves {
                announce("\(wave.name): \(wave.steps.map(\.dataset).joined(separator: ", "))")
                while true {
                    var settled = 0
                    var lines: [String] = []
                    for step in wave.steps {
                        let (action, event): (PlanAction, PlanRunner.Event?)
                        do {
                            (action, event) = try await runner.advance(step, wave: wave.name)
                        } catch let stop as PlanRunner.Stop {
                            if let report = stop.report { print(report.summary) }
                            throw CommandFailure(stop.description)
                        }
                        switch event {
                        case .started(let m)?: board.event("\(step.dataset): mirroring to \(m.target.description)")
                        case .verification(let report)?: board.event("\(step.dataset): verification \(report.clean ? "clean" : "NOT clean")")
                        case .cutover?: board.event("\(step.dataset): cutover")
                        case .retired?: board.event("\(step.dataset): source retired")
                        case nil: if action == .waitOperator || action == .done { settled += 1 }
                        }
                        let now = try await catalog.migration(step.dataset)
                        lines.append(board.line(step.dataset, now, journal: try await catalog.journalStats(bucket: step.dataset), action: action))
                    }
                    board.draw(lines)
                    if settled == wave.steps.count { break }
                    try await Task.sleep(for: .seconds(interval))
                }
                board.finish()
                let waiting = try await wave.steps.asyncFilter { step in
                    PlanAction.next(step, migration: try await catalog.migration(step.dataset), journal: JournalStats()) == .waitOperator
                }
                announce(
                    "\(wave.name): done"
                        + (waiting.isEmpty ? "" : "; waiting for `passerelle migrate cutover` of \(waiting.map(\.dataset).joined(separator: ", "))"))
            }
        }

        func showDryRun(_ plan: MigrationPlan, catalog: SQLiteCatalog) async throws {
            for wave in plan.waves {
                print("\(wave.name):")
                for step in wave.steps {
                    let m = try await catalog.migration(step.dataset)
                    let next = PlanAction.next(step, migration: m, journal: try await catalog.journalStats(bucket: step.dataset))
                    print("  \(step.dataset): now \(m?.phase.rawValue ?? "legacy"); next: \(next)")
                    print(
                        "    target \(step.target.description), mode \(step.mode.rawValue), bandwidth "
                            + "\(step.bandwidth.map { ByteCount.format($0) + "/s" } ?? "unlimited"), parallelism \(step.parallelism)"
                    )
                    print(
                        "    then: backfill, verify (\(step.verify.rawValue)), "
                            + (step.cutover == .auto
                                ? "cutover" + (step.retire ? ", retire source" : "") : "stop at verified for an operator's cutover"))
                }
            }
        }
    }
}

extension Sequence {
    func asyncFilter(_ keep: (Element) async throws -> Bool) async rethrows -> [Element] {
        var out: [Element] = []
        for e in self where try await keep(e) { out.append(e) }
        return out
    }

    func asyncContains(_ test: (Element) async throws -> Bool) async rethrows -> Bool {
        for e in self where try await test(e) { return true }
        return false
    }
}

/// One progress line per dataset: rewritten in place on a terminal, printed every few seconds
/// (and on every event) otherwise. Rate and ETA come from the bytes copied between refreshes.
final class ProgressBoard {
    let tty = isatty(1) == 1
    private var drawn = 0
    private var last: [String: (bytes: Int64, at: Date, rate: Double)] = [:]
    private var lastPlain = Date.distantPast

    func line(_ dataset: String, _ m: MigrationRecord?, journal: JournalStats, action: PlanAction) -> String {
        guard let m else { return "\(dataset): legacy" }
        let b = m.backfill
        let now = Date()
        var rate = last[dataset]?.rate ?? 0
        if let prev = last[dataset], now.timeIntervalSince(prev.at) > 0.5 {
            let instant = Double(b.copiedBytes - prev.bytes) / now.timeIntervalSince(prev.at)
            rate = prev.rate == 0 ? instant : 0.7 * prev.rate + 0.3 * instant
            last[dataset] = (b.copiedBytes, now, rate)
        } else if last[dataset] == nil {
            last[dataset] = (b.copiedBytes, now, 0)
        }
        let examined = b.copied + b.skipped + b.imported
        let pct = b.total > 0 ? min(100, examined * 100 / b.total) : (b.stage == .done ? 100 : 0)
        let remaining = max(0, b.totalBytes - b.copiedBytes)
        let eta = b.stage == .done ? "done" : rate > 0 ? "ETA \(Int(Double(remaining) / rate)) s" : "ETA –"
        let bar = String(repeating: "#", count: pct / 5) + String(repeating: ".", count: 20 - pct / 5)
        return
            "\(dataset) [\(bar)] \(m.phase.rawValue) \(examined)/\(b.total) objects \(ByteCount.format(b.copiedBytes)) "
            + "\(ByteCount.format(Int64(rate)))/s \(eta) queue \(journal.pending) next \(action)"
    }

    func draw(_ lines: [String]) {
        if tty {
            var out = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
            for l in lines { out += "\r\u{1B}[2K" + l + "\n" }
            FileHandle.standardOutput.write(Data(out.utf8))
            drawn = lines.count
        } else if Date().timeIntervalSince(lastPlain) >= 5 {
            for l in lines { announce(l) }
            lastPlain = Date()
        }
    }

    func event(_ text: String) {
        if tty {
            FileHandle.standardOutput.write(Data(((drawn > 0 ? "\u{1B}[\(drawn)A\r\u{1B}[J" : "") + text + "\n").utf8))
            drawn = 0
        } else {
            announce(text)
        }
    }

    func finish() {
        drawn = 0
        lastPlain = .distantPast
    }
}
