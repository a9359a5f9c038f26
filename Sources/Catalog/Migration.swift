import Foundation
import Sealing

/// Where a dataset stands in its move from a source placement to a target (DESIGN.md §3).
public enum Phase: String, Sendable, Codable, CaseIterable {
    /// Reads and writes on the source only.
    case legacy
    /// Writes go to both placements; backfill copies what predates mirroring.
    case mirroring
    /// A clean verification report says the target holds every object.
    case verified
    /// Reads come from the target (falling back to the source); writes still go to both.
    case cutover
    /// The source is detached: the target is the dataset's only placement.
    case retired

    /// Writes are applied to both placements.
    public var mirrors: Bool { self == .mirroring || self == .verified || self == .cutover }
}

/// How a mirrored write reaches the target.
public enum WriteMode: String, Sendable, Codable, CaseIterable {
    /// The client's response waits for both copies.
    case sync
    /// The response waits for the source copy and a durable journal row; workers copy after.
    case journaled
}

/// Where the backfill of a migration stands; saved after every batch, so a restart resumes.
public struct BackfillState: Sendable, Equatable, Codable {
    public enum Stage: String, Sendable, Codable {
        /// Copying catalog objects in key order from `cursor`.
        case copy
        /// Listing the source for objects written behind the gateway's back, from `cursor`.
        case scan
        case done
    }
    public var stage: Stage = .copy
    /// Key (copy) or backend name (scan) below which everything is done.
    public var cursor: String?
    /// Objects and bytes the backfill copied (counted by the catalog with each copy, so exact
    /// across crashes), objects found already current, objects found on the source by listing
    /// and imported, objects that could not be copied yet (handed to the journal).
    public var copied = 0
    public var copiedBytes: Int64 = 0
    public var skipped = 0
    public var imported = 0
    public var failed = 0
    /// Objects and bytes in the dataset when the backfill began (for progress and ETA).
    public var total = 0
    public var totalBytes: Int64 = 0
    /// Times the backfill was (re)started: each gateway start that found it unfinished.
    public var runs = 0

    public init() {}
}

/// A dataset's migration: where from, where to, how, and how far.
public struct MigrationRecord: Sendable, Equatable {
    public var bucket: String
    public var source: Placement
    public var target: Placement
    public var mode: WriteMode
    public var phase: Phase
    /// Moves whenever where writes go changes (start, abort, retire): a write routed under an
    /// older epoch cannot commit after the source was detached.
    public var epoch: Int
    /// Backfill bandwidth limit in bytes per second (nil: unlimited) and copies in flight.
    public var bandwidth: Int64?
    public var parallelism: Int
    public var backfill: BackfillState
    public var started: Date
    /// The last replication that failed for good (dead-lettered journal entry, failed sync write).
    public var lastFailure: Date?
    /// The last verification: when, whether it was clean, and its counts (JSON).
    public var verifiedAt: Date?
    public var verifiedClean: Bool
    public var report: String?

    public init(
        bucket: String, source: Placement, target: Placement, mode: WriteMode, phase: Phase = .mirroring, epoch: Int = 1,
        bandwidth: Int64? = nil, parallelism: Int = 8, backfill: BackfillState = BackfillState(), started: Date,
        lastFailure: Date? = nil, verifiedAt: Date? = nil, verifiedClean: Bool = false, report: String? = nil
    ) {
        self.bucket = bucket
        self.source = source
        self.target = target
        self.mode = mode
        self.phase = phase
        self.epoch = epoch
        self.bandwidth = bandwidth
        self.parallelism = parallelism
        self.backfill = backfill
        self.started = started
        self.lastFailure = lastFailure
        self.verifiedAt = verifiedAt
        self.verifiedClean = verifiedClean
        self.report = report
    }

    /// Where reads and (primary) writes go: the target once retired.
    public var primary: Placement { phase == .retired ? target : source }
}

/// One phase change, as recorded: who asked, when, why, and whether a precondition was overridden.
public struct PhaseTransition: Sendable, Equatable {
    public var bucket: String
    public var from: Phase
    public var to: Phase
    public var who: String
    public var at: Date
    public var why: String
    public var forced: Bool

    public init(bucket: String, from: Phase, to: Phase, who: String, at: Date, why: String, forced: Bool = false) {
        self.bucket = bucket
        self.from = from
        self.to = to
        self.who = who
        self.at = at
        self.why = why
        self.forced = forced
    }
}

/// An object's copy on the migration target: which catalog version it holds, and where.
public struct ReplicaRecord: Sendable, Equatable {
    public var bucket: String
    public var key: String
    /// The object version (`ObjectRecord.version`) this copy holds.
    public var version: Int64
    public var blob: String
    public var backendETag: String?
    public var seal: SealRecord?
    /// MD5 of the plaintext as copied (hex), to compare without reading back.
    public var md5: String?

    public init(bucket: String, key: String, version: Int64, blob: String, backendETag: String?, seal: SealRecord?, md5: String?) {
        self.bucket = bucket
        self.key = key
        self.version = version
        self.blob = blob
        self.backendETag = backendETag
        self.seal = seal
        self.md5 = md5
    }

    /// The object as it sits on the target: its catalog truth with the target's blob and keys.
    public func applied(to object: ObjectRecord) -> ObjectRecord {
        var r = object
        r.blob = blob
        r.backendETag = backendETag
        r.seal = seal
        return r
    }
}

/// A key whose target copy must be brought up to date (written, replaced or deleted).
public struct JournalEntry: Sendable, Equatable {
    public var bucket: String
    public var key: String
    /// Version of the write that queued it: finishing removes the entry only if no newer write
    /// queued it again meanwhile.
    public var version: Int64
    public var attempts: Int
    public var nextTry: Date
    public var lastError: String?
    /// Dead-lettered: gave up after too many attempts (until `migrate retry`).
    public var dead: Bool
    public var created: Date
    /// The worker that claimed it, and until when its claim holds (`ReplicationQueue.claim`).
    public var owner: String?
    public var leaseUntil: Date?

    public init(
        bucket: String, key: String, version: Int64, attempts: Int, nextTry: Date, lastError: String?, dead: Bool, created: Date,
        owner: String? = nil, leaseUntil: Date? = nil
    ) {
        self.bucket = bucket
        self.key = key
        self.version = version
        self.attempts = attempts
        self.nextTry = nextTry
        self.lastError = lastError
        self.dead = dead
        self.created = created
        self.owner = owner
        self.leaseUntil = leaseUntil
    }
}

/// The replication queue of a dataset, for status and metrics.
public struct JournalStats: Sendable, Equatable {
    public var pending: Int
    public var dead: Int
    public var oldestPending: Date?
    /// Entries whose copy failed at least once, and the one that failed most (dead letters first).
    public var failing: Int
    public var worst: JournalFailure?

    public init(pending: Int = 0, dead: Int = 0, oldestPending: Date? = nil, failing: Int = 0, worst: JournalFailure? = nil) {
        self.pending = pending
        self.dead = dead
        self.oldestPending = oldestPending
        self.failing = failing
        self.worst = worst
    }
}

/// Why a key's copy keeps failing, as the journal last recorded it.
public struct JournalFailure: Sendable, Equatable {
    public var key: String
    public var attempts: Int
    public var dead: Bool
    public var error: String

    public init(key: String, attempts: Int, dead: Bool, error: String) {
        self.key = key
        self.attempts = attempts
        self.dead = dead
        self.error = error
    }
}

/// How a write of a dataset reaches its migration target, decided by the writer and settled by
/// the catalog in the write's own transaction.
public struct MirrorCommit: Sendable {
    public enum Target: Sendable {
        /// Sync mode: the target copy is written (or removed, for a delete) already.
        case written(ReplicaRecord)
        case removed
        /// Journaled (or not routed yet): the key is queued for the workers if the dataset mirrors.
        case pending
    }
    /// The migration epoch the writer routed by (nil: whatever is current).
    public var epoch: Int?
    public var target: Target

    public init(epoch: Int?, target: Target = .pending) {
        self.epoch = epoch
        self.target = target
    }

    public static let current = MirrorCommit(epoch: nil)
}

/// What a write replaced: the source blob and the target copy's blob no row refers to any more.
public struct WriteResult: Sendable {
    public var replaced: String?
    public var replacedReplica: String?
    public var version: Int64
    /// Whether the write got a version id of its own (its dataset's versioning is enabled).
    public var versioned: Bool

    public init(replaced: String?, replacedReplica: String?, version: Int64, versioned: Bool = false) {
        self.replaced = replaced
        self.replacedReplica = replacedReplica
        self.version = version
        self.versioned = versioned
    }
}
