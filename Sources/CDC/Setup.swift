import Foundation

/// `cdc init`: pre-flight, target state schema, schema copy, publication, slot, initial copy.
/// Every step is recorded on the target, so running it again resumes where it stopped.
public enum Setup {
    public struct Options: Sendable {
        public var slot = "passerelle"
        public var publication = "passerelle"
        public var schemas: [String] = []
        public var createSchema = false
        public var jobs = 4
        public init() {}
    }

    public typealias Log = @Sendable (String) -> Void

    /// Runs the pre-flight and throws with every failure listed when one fails.
    @discardableResult
    public static func check(source: PgSession, target: PgSession, options: Options, log: Log) async throws(CDCError) -> [Preflight.Finding] {
        let (s, t) = try await Preflight.gather(source: source, target: target, slot: options.slot, schemas: options.schemas)
        let findings = Preflight.judge(source: s, target: t, slot: options.slot, createSchema: options.createSchema)
        for f in findings { log(f.description) }
        let failures = findings.filter { $0.level == .failure }
        if !failures.isEmpty { throw CDCError("pre-flight failed: \(failures.count) problem(s) above") }
        return findings
    }

    public static func initialize(source: PgEndpoint, target: PgEndpoint, options: Options, log: @escaping Log) async throws {
        try await PgSession.using(source, purpose: "init") { src in
            try await PgSession.using(target, purpose: "init") { tgt in
                try await initialize(src, tgt, options: options, log: log)
            }
        }
    }

    static func initialize(_ src: PgSession, _ tgt: PgSession, options: Options, log: @escaping Log) async throws {
        let source = src.endpoint, target = tgt.endpoint
        let existing = try await StreamState.load(tgt, slot: options.slot)
        if let existing, existing.phase != "copying" {
            throw CDCError(
                "slot \(options.slot) is already initialised on this target (phase \(existing.phase)): use `cdc run`, or `cdc drop` to start over")
        }
        if existing == nil { try await check(source: src, target: tgt, options: options, log: log) }
        try await StreamState.ensureSchema(tgt)
        if existing == nil {
            _ = try await tgt.rows(
                """
                INSERT INTO passerelle_cdc.stream (slot, publication, source) VALUES (\(options.slot), \(options.publication), \(source.description))
                ON CONFLICT (slot) DO NOTHING
                """)
        }
        let steps = try await StreamState.steps(tgt, slot: options.slot)
        let tables = try await InitialCopy.tables(src, schemas: options.schemas)
        guard !tables.isEmpty else { throw CDCError("the source has no table to replicate") }
        if options.createSchema, !steps.contains("schema.pre-data") {
            log("creating the tables on the target (pg_dump --schema-only --section=pre-data)")
            try await InitialCopy.applySchema(source: source, target: target, section: "pre-data", schemas: options.schemas)
            try await StreamState.stepDone(tgt, slot: options.slot, "schema.pre-data")
        }
        if try await src.value("SELECT 1::text FROM pg_publication WHERE pubname = \(options.publication)") == nil {
            try await src.exec(
                "CREATE PUBLICATION \(SQLText.identifier(options.publication)) FOR TABLE \(tables.map(\.qualified).joined(separator: ", "))")
            log("publication \(options.publication) created for \(tables.count) table(s)")
        }
        if let db = try await src.rows("SELECT coalesce(database, '') FROM pg_replication_slots WHERE slot_name = \(options.slot)").first {
            guard db.first == source.database else {
                throw CDCError("slot \(options.slot) on the source belongs to database \(db.first.flatMap { $0 } ?? "?"): choose another --slot")
            }
        } else {
            let lsn = try await src.value("SELECT lsn::text FROM pg_create_logical_replication_slot(\(options.slot), 'pgoutput')")
            log("slot \(options.slot) created at \(lsn ?? "?"); changes from there on will be streamed")
        }
        try await copyTables(tables, source: source, target: target, slot: options.slot, jobs: options.jobs, log: log)
        if options.createSchema, !steps.contains("schema.post-data") {
            log("building primary keys, indexes and constraints on the target (--section=post-data)")
            try await InitialCopy.applySchema(source: source, target: target, section: "post-data", schemas: options.schemas)
            try await StreamState.stepDone(tgt, slot: options.slot, "schema.post-data")
        }
        try await StreamState.setPhase(tgt, slot: options.slot, "streaming")
        log("initial copy done: run `passerelle cdc run` to stream the changes")
    }

    actor Queue {
        var items: [InitialCopy.Table]
        init(_ items: [InitialCopy.Table]) { self.items = items.reversed() }
        func next() -> InitialCopy.Table? { items.popLast() }
    }

    static func copyTables(
        _ all: [InitialCopy.Table], source: PgEndpoint, target: PgEndpoint, slot: String, jobs: Int, log: @escaping Log
    ) async throws {
        try await PgSession.using(target, purpose: "progress") { progress in
            try await copyTables(all, source: source, target: target, progress: progress, slot: slot, jobs: jobs, log: log)
        }
    }

    static func copyTables(
        _ all: [InitialCopy.Table], source: PgEndpoint, target: PgEndpoint, progress: PgSession, slot: String, jobs: Int, log: @escaping Log
    ) async throws {
        let done = try await InitialCopy.copied(progress, slot: slot)
        let todo = all.filter { !done.contains($0.display) }
        if todo.count < all.count { log("\(all.count - todo.count) table(s) already copied, \(todo.count) to go") }
        let queue = Queue(todo)
        let started = Date()
        let ticker = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(5))
                let rows =
                    (try? await progress.rows(
                        """
                        SELECT relid::regclass::text, tuples_processed::text, pg_size_pretty(bytes_processed) FROM pg_stat_progress_copy
                        WHERE command = 'COPY FROM' AND datname = current_database()
                        """)) ?? []
                for r in rows where r.count == 3 { log("  copying \(r[0] ?? "?"): \(r[1] ?? "0") rows, \(r[2] ?? "?")") }
            }
        }
        defer { ticker.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, min(jobs, todo.count)) {
                group.addTask {
                    try await PgSession.using(target, purpose: "copy") { session in
                        while let table = await queue.next() {
                            let t0 = Date()
                            let (rows, bytes) = try await InitialCopy.copy(table, source: source, target: session, slot: slot)
                            let s = Date().timeIntervalSince(t0)
                            log(String(format: "copied %@: %lld rows, %.1f MiB in %.1f s", table.display, rows, Double(bytes) / 1_048_576, s))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        if !todo.isEmpty { log(String(format: "copied %d table(s) in %.1f s", todo.count, Date().timeIntervalSince(started))) }
    }
}
