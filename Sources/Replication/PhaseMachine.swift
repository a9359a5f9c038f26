import Catalog
import Foundation

/// The operator's commands on a migration (DESIGN.md §3), checked against the dataset's state
/// before the catalog applies them. Pure: every precondition is decided here from what the
/// catalog says.
public enum MigrationCommand: String, Sendable, CaseIterable {
    case start, verified, cutover, rollback, retire, abort
    /// A verification of a verified dataset was not clean: back to mirroring.
    case unverified
}

public struct PhaseRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    /// `--force` may override it (it is recorded as forced).
    public var forcible: Bool
}

public enum PhaseMachine {
    /// The change `command` makes: from and to, and whether a precondition was overridden.
    public static func check(
        _ command: MigrationCommand, migration m: MigrationRecord?, journal: JournalStats,
        force: Bool = false
    ) throws -> (from: Phase, to: Phase, forced: Bool) {
        let phase = m?.phase ?? .legacy
        func refusal(_ why: String) -> PhaseRefusal { PhaseRefusal(description: why, forcible: false) }
        /// A precondition `--force` may override.
        func overridable(_ holds: Bool, _ why: String) throws -> Bool {
            if holds { return false }
            guard force else { throw PhaseRefusal(description: why, forcible: true) }
            return true
        }
        switch command {
        case .start:
            guard phase == .legacy || phase == .retired else { throw refusal("the dataset is already migrating (phase \(phase.rawValue))") }
            return (.legacy, .mirroring, false)
        case .verified:
            guard let m, phase == .mirroring else { throw refusal("only a mirroring dataset becomes verified (phase \(phase.rawValue))") }
            guard m.backfill.stage == .done else { throw refusal("the backfill has not finished") }
            guard cleanVerification(m) else { throw refusal("the last verification is not clean, or older than the last replication failure") }
            return (.mirroring, .verified, false)
        case .unverified:
            guard phase == .verified else { throw refusal("only a verified dataset loses its verification (phase \(phase.rawValue))") }
            return (.verified, .mirroring, false)
        case .cutover:
            guard let m, phase == .verified || phase == .mirroring else {
                throw refusal("cutover needs a mirroring or verified dataset (phase \(phase.rawValue))")
            }
            let unverified = try overridable(
                cleanVerification(m),
                "cutover needs a clean verification report newer than the last replication failure (run `passerelle migrate verify`)")
            let dead = try overridable(journal.dead == 0, "\(journal.dead) replications are dead-lettered (`passerelle migrate retry`)")
            return (phase, .cutover, unverified || dead)
        case .rollback:
            guard phase == .cutover else { throw refusal("only a dataset in cutover rolls back (phase \(phase.rawValue))") }
            return (.cutover, .mirroring, false)
        case .retire:
            guard phase == .cutover else { throw refusal("only a dataset in cutover retires its source (phase \(phase.rawValue))") }
            return (.cutover, .retired, false)
        case .abort:
            guard phase == .mirroring || phase == .verified else {
                throw refusal("only a mirroring or verified dataset aborts its migration (phase \(phase.rawValue)); roll back first")
            }
            return (phase, .legacy, false)
        }
    }

    /// A clean report exists and no replication failed for good since.
    public static func cleanVerification(_ m: MigrationRecord) -> Bool {
        guard m.verifiedClean, let at = m.verifiedAt else { return false }
        return m.lastFailure.map { $0 < at } ?? true
    }
}

/// When a failed replication is tried again: exponential from `base`, capped, with jitter so
/// a backend coming back is not hit by every entry at once; dead-lettered after `maxAttempts`.
public struct Backoff: Sendable, Equatable {
    public var base: Double
    public var cap: Double
    public var maxAttempts: Int

    public init(base: Double = 0.5, cap: Double = 30, maxAttempts: Int = 12) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// Delay after the `attempts`-th failure (1-based); `jitter` in 0...1 scales it by 0.5...1.
    public func delay(afterAttempts attempts: Int, jitter: Double) -> Double {
        let exp = base * pow(2, Double(max(0, min(attempts - 1, 30))))
        return min(exp, cap) * (0.5 + 0.5 * max(0, min(1, jitter)))
    }

    public func isDead(afterAttempts attempts: Int) -> Bool { attempts >= maxAttempts }
}
