import Audit
import Catalog
import Datasets
import Foundation
import Sealing

/// A migration refused or failed, said for the operator.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The operator's migration commands (DESIGN.md §3), shared by `passerelle migrate` and the
/// plan runner: each change checked against its preconditions (`PhaseMachine`), applied by the
/// catalog, recorded with who and why, and audited; a clean verification makes a mirroring
/// dataset verified, an unclean one takes the verification away.
public struct MigrationController: Sendable {
    let objects: ObjectLayer
    /// Who asks, as phase transitions record it (`alice@cli`), and as the audit log names it.
    let who: String
    let principal: String
    let audit: any AuditRecording

    var catalog: any Catalog { objects.catalog }

    public init(objects: ObjectLayer, who: String, principal: String, audit: any AuditRecording) {
        self.objects = objects
        self.who = who
        self.principal = principal
        self.audit = audit
    }

    func audited(_ action: String, dataset: String, detail: String, result: String = "ok") async throws {
        try await audit.record([AuditEvent(time: Date(), principal: principal, action: action, dataset: dataset, result: result, detail: detail)])
    }

    public func start(
        _ dataset: String, target: Placement, mode: WriteMode, bandwidth: Int64?, parallelism: Int,
        why: String
    ) async throws -> MigrationRecord {
        guard let b = try await catalog.bucket(dataset) else { throw MigrationError("no dataset named '\(dataset)'") }
        let current = try await catalog.migration(dataset)
        let source = current?.phase == .retired ? current?.target ?? b.placement : b.placement
        guard !target.sameLocation(as: source) else { throw MigrationError("the target is the dataset's current placement (\(source.description))") }
        guard (1...256).contains(parallelism) else { throw MigrationError("--parallelism must be between 1 and 256") }
        do {
            _ = try PhaseMachine.check(.start, migration: current, journal: JournalStats())
        } catch let r as PhaseRefusal { throw MigrationError("\(dataset): \(r.description)") }
        var target = target
        if target.sealed || source.sealed, objects.backends.keyring == nil {
            throw MigrationError(
                "no master key: set \(MasterKey.environmentVariable) or \(MasterKey.fileVariable) (generate one with `passerelle keys master-key`)")
        }
        if target.sealed, source.sealed, target.keyring(of: dataset) == source.keyring(of: dataset) {
            // Own keys for the target copy, so retiring the source can shred the source's.
            target.keyID = "\(dataset).m\(Int(Date().timeIntervalSince1970))"
        }
        if target.sealed { try objects.backends.keyring?.ensureKeys(for: target.keyring(of: dataset)) }
        do {
            _ = try objects.backends.resolve(target, dataset: dataset)
        } catch {
            throw MigrationError("the target placement cannot be used: \(error)")
        }
        let record = MigrationRecord(
            bucket: dataset, source: source, target: target, mode: mode, bandwidth: bandwidth, parallelism: parallelism,
            started: Date())
        let started: MigrationRecord
        do {
            started = try await catalog.startMigration(
                record,
                transition: PhaseTransition(
                    bucket: dataset, from: .legacy, to: .mirroring,
                    who: who, at: Date(), why: why))
        } catch CatalogError.phase(let why) { throw MigrationError(why) }
        try await audited("phase.mirroring", dataset: dataset, detail: "migration to \(target.description) (\(mode.rawValue)): \(why)")
        return started
    }

    public func transition(_ command: MigrationCommand, _ dataset: String, force: Bool, why: String) async throws -> MigrationRecord {
        guard try await catalog.bucket(dataset) != nil else { throw MigrationError("no dataset named '\(dataset)'") }
        let m = try await catalog.migration(dataset)
        let (from, to, forced) = try await check(command, dataset, m, force: force)
        do {
            let done = try await catalog.changePhase(
                PhaseTransition(bucket: dataset, from: from, to: to, who: who, at: Date(), why: why, forced: forced))
            try await audited(
                "phase.\(to.rawValue)", dataset: dataset, detail: "\(from.rawValue) → \(to.rawValue)\(forced ? " (forced)" : ""): \(why)")
            return done
        } catch CatalogError.phase(let why) {
            throw MigrationError(why)
        } catch CatalogError.notReady(let why) {
            throw MigrationError(why)
        }
    }

    /// Retires the source once every object's target copy is current. Under a steady write
    /// load the journal is rarely empty, so a journaled dataset is switched to sync writes
    /// first (each write then commits with its target copy), and the retirement is retried
    /// until the last queued replications are done.
    public func retire(_ dataset: String, why: String, timeout: Double) async throws -> MigrationRecord {
        guard let m = try await catalog.migration(dataset) else { throw MigrationError("\(dataset): no migration") }
        _ = try await check(.retire, dataset, m, force: false)
        if m.mode == .journaled { try await catalog.tuneMigration(bucket: dataset, mode: .sync, bandwidth: nil, parallelism: nil) }
        let deadline = Date().addingTimeInterval(timeout)
        var waiting = ""
        while Date() < deadline {
            do {
                // Versions that became noncurrent before their copy was made.
                let versions = try await catalog.versionCopyCounts(bucket: dataset)
                if versions.copied < versions.versions {
                    try await VersionBackfill(objects: objects, bucket: dataset).run(parallelism: m.parallelism)
                }
                let done = try await catalog.changePhase(
                    PhaseTransition(bucket: dataset, from: .cutover, to: .retired, who: who, at: Date(), why: why))
                try await audited("phase.retired", dataset: dataset, detail: "cutover → retired: \(why)")
                if m.mode == .journaled { try await catalog.tuneMigration(bucket: dataset, mode: .journaled, bandwidth: nil, parallelism: nil) }
                return done
            } catch CatalogError.notReady(let why) {
                waiting = why
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        if m.mode == .journaled { try await catalog.tuneMigration(bucket: dataset, mode: .journaled, bandwidth: nil, parallelism: nil) }
        throw MigrationError("\(dataset): \(waiting) after \(Int(timeout)) s")
    }

    func check(
        _ command: MigrationCommand, _ dataset: String, _ m: MigrationRecord?, force: Bool
    ) async throws -> (from: Phase, to: Phase, forced: Bool) {
        do {
            return try PhaseMachine.check(command, migration: m, journal: try await catalog.journalStats(bucket: dataset), force: force)
        } catch let r as PhaseRefusal {
            throw MigrationError("\(dataset): \(r.description)" + (r.forcible ? " (--force overrides, and is recorded)" : ""))
        }
    }

    /// What a verification came to: its report, where it was written, and the phase change it
    /// made (a clean report makes a mirroring dataset verified, an unclean one a verified
    /// dataset mirroring again).
    public struct Verification: Sendable {
        public var report: VerificationReport
        public var path: String
        public var phase: Phase?
    }

    /// Runs a verification, writes its report (`reportPath`, or a file in `reportDirectory`),
    /// records it, and changes the phase as the report says.
    public func verify(_ dataset: String, mode: Verifier.Mode, reportPath: String?, reportDirectory: String) async throws -> Verification {
        guard let m = try await catalog.migration(dataset), m.phase.mirrors else { throw MigrationError("\(dataset): not mirroring to a target") }
        let report: VerificationReport
        do {
            report = try await Verifier(objects: objects, mode: mode).run(dataset: dataset)
        } catch {
            throw MigrationError("\(dataset): verification failed to run: \(error)")
        }
        let json = try report.json()
        let path = reportPath ?? "\(reportDirectory)/\(dataset)-\(Int(report.started.timeIntervalSince1970)).json"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try json.write(to: URL(fileURLWithPath: path))
        try await catalog.recordVerification(bucket: dataset, at: report.started, clean: report.clean, report: String(decoding: json, as: UTF8.self))
        try await audited(
            "verification", dataset: dataset, detail: "\(mode.rawValue): " + report.summary.split(separator: "\n").joined(separator: "; "),
            result: report.clean ? "ok" : "failed")
        var changed: Phase?
        if !report.clean, let now = try await catalog.migration(dataset), now.phase == .verified {
            _ = try await catalog.changePhase(
                PhaseTransition(
                    bucket: dataset, from: .verified, to: .mirroring, who: who, at: Date(),
                    why: "verification not clean (\(mode.rawValue))"))
            try await audited("phase.mirroring", dataset: dataset, detail: "verified → mirroring: verification not clean")
            changed = .mirroring
        }
        if report.clean, let now = try await catalog.migration(dataset), now.phase == .mirroring,
            (try? PhaseMachine.check(.verified, migration: now, journal: try await catalog.journalStats(bucket: dataset))) != nil
        {
            _ = try await catalog.changePhase(
                PhaseTransition(
                    bucket: dataset, from: .mirroring, to: .verified, who: who, at: Date(),
                    why: "clean verification (\(mode.rawValue))"))
            try await audited("phase.verified", dataset: dataset, detail: "mirroring → verified: clean verification")
            changed = .verified
        }
        return Verification(report: report, path: path, phase: changed)
    }

    /// Changes the write mode or the backfill limits of a running migration.
    public func tune(_ dataset: String, mode: WriteMode?, bandwidth: Int64??, parallelism: Int?) async throws -> MigrationRecord {
        if let parallelism, !(1...256).contains(parallelism) { throw MigrationError("--parallelism must be between 1 and 256") }
        guard let m = try await catalog.migration(dataset), m.phase.mirrors else { throw MigrationError("\(dataset): not mirroring to a target") }
        try await catalog.tuneMigration(bucket: dataset, mode: mode, bandwidth: bandwidth, parallelism: parallelism)
        return try await catalog.migration(dataset) ?? m
    }
}
