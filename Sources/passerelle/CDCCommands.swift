import ArgumentParser
import CDC
import Foundation
import Hummingbird
import Synchronization

struct CDCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdc", abstract: "Replicate a PostgreSQL database to another in real time (logical decoding), verify it, cut over.",
        discussion: """
            URLs: postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=verify-full&sslrootcert=CA.pem]. Prefer the
            environment (PASSERELLE_CDC_SOURCE, PASSERELLE_CDC_TARGET) to the command line, which other local users can read.
            """,
        subcommands: [Check.self, Init.self, Run.self, Status.self, Verify.self, Cutover.self, Drop.self])

    struct Endpoints: ParsableArguments {
        @Option(help: "Source database URL (default: $PASSERELLE_CDC_SOURCE).") var source: String?
        @Option(help: "Target database URL (default: $PASSERELLE_CDC_TARGET).") var target: String?
        @Option(help: "Replication slot name on the source.") var slot = "passerelle"

        func url(_ given: String?, _ env: String, _ what: String) throws -> PgEndpoint {
            guard let url = given ?? ProcessInfo.processInfo.environment[env], !url.isEmpty else {
                throw ValidationError("no \(what) database: pass --\(what) URL or set \(env)")
            }
            return try PgEndpoint(url: url)
        }
        func sourceEndpoint() throws -> PgEndpoint { try url(source, "PASSERELLE_CDC_SOURCE", "source") }
        func targetEndpoint() throws -> PgEndpoint { try url(target, "PASSERELLE_CDC_TARGET", "target") }

        /// Runs `body` with a session on each side, both closed afterwards.
        @discardableResult
        func withBoth<T>(_ purpose: String, _ body: (PgSession, PgSession) async throws -> T) async throws -> T {
            let target = try targetEndpoint()
            return try await PgSession.using(try sourceEndpoint(), purpose: purpose) { src in
                try await PgSession.using(target, purpose: purpose) { tgt in try await body(src, tgt) }
            }
        }

        func validate() throws {
            guard slot.range(of: "^[a-z0-9_]{1,63}$", options: .regularExpression) != nil else {
                throw ValidationError("--slot must be 1–63 lower-case letters, digits or underscores (PostgreSQL's rule)")
            }
        }
    }

    struct SetupOptions: ParsableArguments {
        @Option(name: .customLong("schema"), help: "Replicate only this schema (repeatable; default: every user schema).") var schemas: [String] = []
        @Flag(help: "Create the tables on the target from the source's pg_dump --schema-only.") var createSchema = false

        func options(slot: String) -> Setup.Options {
            var o = Setup.Options()
            o.slot = slot
            o.publication = slot
            o.schemas = schemas
            o.createSchema = createSchema
            return o
        }
    }

    /// One line on standard output, unbuffered (progress of long commands shows when piped).
    static func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pre-flight: logical WAL, slots, privileges, keys, unsupported objects, target schema.")
        @OptionGroup var endpoints: Endpoints
        @OptionGroup var setup: SetupOptions

        func run() async throws {
            try await endpoints.withBoth("check") { src, tgt in
                try await Setup.check(source: src, target: tgt, options: setup.options(slot: endpoints.slot), log: CDCCommand.say)
            }
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pre-flight, then create the slot and copy every table (parallel, resumable); `cdc run` streams afterwards.")
        @OptionGroup var endpoints: Endpoints
        @OptionGroup var setup: SetupOptions
        @Option(help: "Tables copied in parallel.") var jobs = 4

        func run() async throws {
            guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
            var o = setup.options(slot: endpoints.slot)
            o.jobs = jobs
            try await Setup.initialize(
                source: try endpoints.sourceEndpoint(), target: try endpoints.targetEndpoint(), options: o, log: CDCCommand.say)
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stream changes from the slot to the target, exactly once, until stopped.")
        @OptionGroup var endpoints: Endpoints
        @Flag(help: "Exit once the target has caught up with the source.") var untilCaughtUp = false
        @Option(help: "Exit after this many seconds.") var seconds: Double?
        @Option(help: "Serve Prometheus metrics on http://127.0.0.1:PORT/metrics.") var metricsPort: Int?
        @Option(help: "Changes read from the slot per round.") var changesPerPeek: Int32 = 5_000

        func run() async throws {
            try await endpoints.withBoth("stream") { src, tgt in try await stream(src, tgt) }
        }

        func stream(_ src: PgSession, _ tgt: PgSession) async throws {
            var options = Replicator.Options()
            options.changesPerPeek = max(1, changesPerPeek)
            let replicator = try await Replicator.open(source: src, target: tgt, slot: endpoints.slot, options: options)
            let stats = RunStats()
            let deadline = seconds.map { Date().addingTimeInterval($0) }
            let endpoints = self.endpoints
            let metrics = metricsPort.map { port in Task { try await serveMetrics(port: port, endpoints: endpoints, stats: stats) } }
            defer { metrics?.cancel() }
            // SIGTERM and SIGINT end the loop between rounds (nothing is half-applied either way:
            // each round commits on the target before it advances the slot).
            let stop = Mutex(false)
            var sources: [any DispatchSourceSignal] = []
            for sig in [SIGTERM, SIGINT] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig)
                source.setEventHandler { stop.withLock { $0 = true } }
                source.resume()
                sources.append(source)
            }
            defer { for source in sources { source.cancel() } }
            var lastReport = Date()
            while (deadline.map({ Date() < $0 }) ?? true) && !stop.withLock({ $0 }) {
                let b = try await replicator.step()
                stats.add(b)
                if Date().timeIntervalSince(lastReport) >= 10 {
                    CDCCommand.say(stats.summary())
                    lastReport = Date()
                }
                if b.transactions == 0 {
                    if untilCaughtUp { break }
                    try await Task.sleep(for: options.pollInterval)
                }
            }
            CDCCommand.say(stats.summary())
        }

        func serveMetrics(port: Int, endpoints: Endpoints, stats: RunStats) async throws {
            try await endpoints.withBoth("metrics") { src, tgt in
                let slot = endpoints.slot
                let router = Router()
                router.get("metrics") { _, _ -> String in
                    let status = try await StreamStatus.read(source: src, target: tgt, slot: slot, window: .zero)
                    return status.prometheus + stats.prometheus(slot: slot)
                }
                let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
                try await app.runService()
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Slot lag (bytes, seconds), applied LSN, changes per second.")
        @OptionGroup var endpoints: Endpoints
        @Option(help: "text, json or prometheus.") var format = "text"

        func run() async throws {
            guard ["text", "json", "prometheus"].contains(format) else { throw ValidationError("--format must be text, json or prometheus") }
            let s = try await endpoints.withBoth("status") { src, tgt in try await StreamStatus.read(source: src, target: tgt, slot: endpoints.slot) }
            switch format {
            case "json":
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try e.encode(s), as: UTF8.self))
            case "prometheus": print(s.prometheus, terminator: "")
            default: print(s.text)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Row counts and order-independent checksums per table on both sides; differences listed by primary key. Exit 2 if any differ.")
        @OptionGroup var endpoints: Endpoints
        @Option(name: .customLong("schema"), help: "Only this schema (repeatable).") var schemas: [String] = []
        @Option(help: "text or json.") var format = "text"

        func run() async throws {
            let reports = try await endpoints.withBoth("verify") { src, tgt in
                try await CDC.Verify.compare(source: src, target: tgt, tables: try await InitialCopy.tables(src, schemas: schemas))
            }
            if format == "json" {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys]
                print(String(decoding: try e.encode(reports), as: UTF8.self))
            } else {
                for r in reports {
                    print("\(r.clean ? "same     " : "DIFFERENT") \(r.table): \(r.sourceRows) rows on the source, \(r.targetRows) on the target")
                    for d in r.differences { print("          \(d)") }
                    if r.sampled { print("          (sampled: more differences exist)") }
                }
                let bad = reports.filter { !$0.clean }.count
                print(bad == 0 ? "CLEAN: \(reports.count) table(s) identical" : "NOT CLEAN: \(bad) of \(reports.count) table(s) differ")
            }
            if reports.contains(where: { !$0.clean }) { throw ExitCode(2) }
        }
    }

    struct Cutover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Source read-only, drain, copy sequences, verify, drop the slot: then switch the applications. Resumable.")
        @OptionGroup var endpoints: Endpoints
        @Flag(help: "Writers were stopped by hand: do not make the source read-only (for a user that may not ALTER DATABASE).")
        var manualGate = false

        func run() async throws {
            try await CDC.Cutover.run(
                source: try endpoints.sourceEndpoint(), target: try endpoints.targetEndpoint(), slot: endpoints.slot,
                manualGate: manualGate, log: CDCCommand.say)
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop the slot and publication on the source (and the stream's state on the target, if given).")
        @OptionGroup var endpoints: Endpoints

        func run() async throws {
            let target = try? endpoints.targetEndpoint()
            try await CDC.Cutover.drop(
                source: try endpoints.sourceEndpoint(), target: target, slot: endpoints.slot,
                publication: endpoints.slot, log: CDCCommand.say)
        }
    }
}

/// What `cdc run` has applied since it started, shared with the metrics endpoint.
final class RunStats: Sendable {
    private struct Figures {
        var transactions = 0
        var changes = 0
        var lags: [Double] = []
        var lagCursor = 0
        var started = Date()
    }
    private let figures = Mutex(Figures())
    static let window = 20_000

    func add(_ b: Replicator.Batch) {
        figures.withLock { f in
            f.transactions += b.transactions
            f.changes += b.changes
            for lag in b.lags {
                if f.lags.count < Self.window {
                    f.lags.append(lag)
                } else {
                    f.lags[f.lagCursor] = lag
                    f.lagCursor = (f.lagCursor + 1) % Self.window
                }
            }
        }
    }

    /// p50 and p99 of source-commit → target-commit over the last `window` transactions.
    func quantiles() -> (p50: Double, p99: Double)? {
        let sorted = figures.withLock { $0.lags }.sorted()
        guard !sorted.isEmpty else { return nil }
        func q(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        return (q(0.5), q(0.99))
    }

    func summary() -> String {
        let (t, c, since) = figures.withLock { ($0.transactions, $0.changes, $0.started) }
        let elapsed = max(Date().timeIntervalSince(since), 0.001)
        var s = String(format: "applied %d transactions, %d changes (%.0f changes/s)", t, c, Double(c) / elapsed)
        if let q = quantiles() { s += String(format: "; lag p50 %.3f s, p99 %.3f s", q.p50, q.p99) }
        return s
    }

    func prometheus(slot: String) -> String {
        guard let q = quantiles() else { return "" }
        return """
            # HELP passerelle_cdc_apply_lag_seconds Source commit to target commit, recent transactions.
            # TYPE passerelle_cdc_apply_lag_seconds summary
            passerelle_cdc_apply_lag_seconds{slot="\(slot)",quantile="0.5"} \(q.p50)
            passerelle_cdc_apply_lag_seconds{slot="\(slot)",quantile="0.99"} \(q.p99)

            """
    }
}
