import Catalog
import Foundation
import Replication
import Testing

@Suite struct PhaseMachineTests {
    func migration(
        _ phase: Phase, clean: Bool = false, verifiedAt: Double? = nil, failure: Double? = nil, backfillDone: Bool = true
    ) -> MigrationRecord {
        var backfill = BackfillState()
        backfill.stage = backfillDone ? .done : .copy
        return MigrationRecord(
            bucket: "d", source: Placement(backend: "azure"), target: Placement(backend: "s3", layout: "sealed"),
            mode: .journaled, phase: phase, backfill: backfill, started: Date(timeIntervalSince1970: 0),
            lastFailure: failure.map(Date.init(timeIntervalSince1970:)),
            verifiedAt: verifiedAt.map(Date.init(timeIntervalSince1970:)), verifiedClean: clean)
    }

    @Test func happyPath() throws {
        let q = JournalStats()
        #expect(try PhaseMachine.check(.start, migration: nil, journal: q) == (.legacy, .mirroring, false))
        #expect(
            try PhaseMachine.check(.verified, migration: migration(.mirroring, clean: true, verifiedAt: 10), journal: q) == (
                .mirroring, .verified, false
            ))
        #expect(
            try PhaseMachine.check(.cutover, migration: migration(.verified, clean: true, verifiedAt: 10), journal: q) == (.verified, .cutover, false)
        )
        #expect(try PhaseMachine.check(.rollback, migration: migration(.cutover), journal: q) == (.cutover, .mirroring, false))
        #expect(try PhaseMachine.check(.retire, migration: migration(.cutover), journal: q) == (.cutover, .retired, false))
        #expect(try PhaseMachine.check(.abort, migration: migration(.verified), journal: q) == (.verified, .legacy, false))
        #expect(try PhaseMachine.check(.start, migration: migration(.retired), journal: q) == (.legacy, .mirroring, false))
        #expect(try PhaseMachine.check(.unverified, migration: migration(.verified), journal: q) == (.verified, .mirroring, false))
    }

    @Test func cutoverNeedsACleanReportNewerThanTheLastFailure() throws {
        let q = JournalStats()
        // Failure after the verification: refused, forcible, and recorded as forced.
        let stale = migration(.verified, clean: true, verifiedAt: 10, failure: 20)
        #expect(throws: PhaseRefusal.self) { try PhaseMachine.check(.cutover, migration: stale, journal: q) }
        #expect(try PhaseMachine.check(.cutover, migration: stale, journal: q, force: true) == (.verified, .cutover, true))
        #expect(
            try PhaseMachine.check(.cutover, migration: migration(.verified, clean: true, verifiedAt: 30, failure: 20), journal: q).forced == false)
        // Not clean, never verified, or dead-lettered entries.
        #expect(throws: PhaseRefusal.self) { try PhaseMachine.check(.cutover, migration: migration(.mirroring), journal: q) }
        #expect(throws: PhaseRefusal.self) {
            try PhaseMachine.check(.cutover, migration: migration(.verified, clean: true, verifiedAt: 10), journal: JournalStats(dead: 1))
        }
    }

    @Test func refusalsThatForceCannotOverride() {
        let q = JournalStats()
        for (command, phase) in [
            (MigrationCommand.start, Phase.mirroring), (.start, .cutover), (.rollback, .mirroring), (.retire, .verified),
            (.abort, .cutover), (.cutover, .retired), (.unverified, .cutover), (.cutover, .legacy), (.verified, .cutover),
        ] {
            #expect(throws: PhaseRefusal.self, "\(command) from \(phase)") {
                try PhaseMachine.check(command, migration: migration(phase, clean: true, verifiedAt: 1), journal: q, force: true)
            }
        }
        // Verified needs the backfill done and a clean report.
        #expect(throws: PhaseRefusal.self) {
            try PhaseMachine.check(.verified, migration: migration(.mirroring, clean: true, verifiedAt: 1, backfillDone: false), journal: q)
        }
        #expect(throws: PhaseRefusal.self) {
            try PhaseMachine.check(.verified, migration: migration(.mirroring, clean: false, verifiedAt: 1), journal: q)
        }
    }
}

@Suite struct ReportAndPlanTests {
    @Test func reportCountsAndCleanliness() throws {
        var r = VerificationReport(dataset: "d", source: "a", target: "b", mode: "full", started: Date(timeIntervalSince1970: 0))
        r.add(.identical, bytes: 10, example: "k1")
        #expect(r.clean)
        r.add(.unverifiable, bytes: 5, example: "k2: source unreadable")
        #expect(!r.clean)
        #expect(r[.unverifiable].objects == 1 && r[.unverifiable].bytes == 5 && r[.identical].examples.isEmpty)
        let back = try VerificationReport.decode(try r.json())
        #expect(back == r)
        #expect(r.summary.contains("NOT CLEAN"))
    }

    @Test func byteCounts() {
        #expect(ByteCount.parse("50MiB") == 50 << 20)
        #expect(ByteCount.parse("1.5 GB/s") == 1_500_000_000)
        #expect(ByteCount.parse("200k") == Int64(204_800))
        #expect(ByteCount.parse("3 kb") == Int64(3000))
        #expect(ByteCount.parse("12") == 12)
        #expect(ByteCount.parse("fast") == nil && ByteCount.parse("-1MiB") == nil && ByteCount.parse("1e30") == nil)
    }

    let plan = """
        defaults: {mode: journaled, bandwidth: 100MiB, verify: full, cutover: manual}
        waves:
          - name: first
            datasets:
              - dataset: a
                target: {backend: sov, bucket: cohorts, prefix: a/, layout: sealed}
                cutover: auto
                retire: true
          - datasets:
              - dataset: b
                target: {backend: sov, bucket: cohorts, prefix: b/}
                mode: sync
                parallelism: 4
        """

    @Test func planParsesWithDefaults() throws {
        let p = try MigrationPlan.parse(plan)
        #expect(p.waves.map(\.name) == ["first", "wave 2"])
        let a = p.waves[0].steps[0], b = p.waves[1].steps[0]
        #expect(a.target == Placement(backend: "sov", container: "cohorts", prefix: "a/", layout: "sealed"))
        #expect(a.mode == .journaled && a.bandwidth == 100 << 20 && a.cutover == .auto && a.retire && a.parallelism == 8)
        #expect(b.mode == .sync && b.cutover == .manual && !b.retire && b.parallelism == 4 && b.target.layout == "native")
    }

    @Test func badPlansAreRefusedWithAReason() {
        for (text, want) in [
            ("waves: []", "no waves"), ("waves: [{datasets: [{dataset: a}]}]", "does not parse"),
            ("waves: [{datasets: [{dataset: a, target: {backend: s}, bandwidth: fast}]}]", "not a byte rate"),
            ("waves: [{datasets: [{dataset: a, target: {backend: s}}, {dataset: a, target: {backend: t}}]}]", "twice"),
            ("waves: [{datasets: [{dataset: a, target: {backend: s, layout: zip}}]}]", "unknown layout"),
            ("waves: [{datasets: [{dataset: a, target: {backend: s}, mode: eventually}]}]", "does not parse"),
        ] {
            #expect(throws: PlanError.self) { try MigrationPlan.parse(text) }
            do { _ = try MigrationPlan.parse(text) } catch { #expect("\(error)".contains(want), "\(text): \(error)") }
        }
    }

    @Test func planActionsFollowTheMigration() throws {
        let step = try MigrationPlan.parse(plan).waves[0].steps[0]
        var m = MigrationRecord(bucket: "a", source: Placement(backend: "azure"), target: step.target, mode: .journaled, started: Date())
        #expect(PlanAction.next(step, migration: nil, journal: JournalStats()) == .start)
        #expect(PlanAction.next(step, migration: m, journal: JournalStats()) == .waitBackfill)
        m.backfill.stage = .done
        #expect(PlanAction.next(step, migration: m, journal: JournalStats()) == .verify)
        m.verifiedClean = true
        m.verifiedAt = Date()
        #expect(PlanAction.next(step, migration: m, journal: JournalStats()) == .cutover)
        m.phase = .cutover
        #expect(PlanAction.next(step, migration: m, journal: JournalStats()) == .retire)
        m.phase = .retired
        #expect(PlanAction.next(step, migration: m, journal: JournalStats()) == .done)
        m.phase = .mirroring
        m.target = Placement(backend: "elsewhere")
        if case .conflict = PlanAction.next(step, migration: m, journal: JournalStats()) {} else { Issue.record("expected a conflict") }
    }
}
