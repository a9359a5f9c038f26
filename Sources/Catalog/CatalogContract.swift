import Foundation
import S3Protocol

// The catalog is the single source of truth for what clients see (DESIGN.md §3). Its contract
// is split by concern; `Catalog` is all of them. Every mutating requirement is one durable
// transaction: when it returns, the change survives a crash (SQLite `synchronous=FULL`,
// PostgreSQL `synchronous_commit=on`), except where a requirement says it may be relaxed.
//
// Each requirement says what isolation it needs on a database with concurrent writers (several
// gateways on one PostgreSQL): "reads in one snapshot" (REPEATABLE READ, or one statement);
// "locks the row" (`SELECT … FOR UPDATE` on the rows it checks before it writes, so a
// check-then-write holds); "skips locked rows" (`FOR UPDATE SKIP LOCKED`, for queues). SQLite
// runs one writer at a time, which gives all of these to every write transaction.

/// Datasets (S3 buckets), objects and listings.
public protocol ObjectCatalog: Sendable {
    /// Refuses a name in use (`bucketExists`). Isolation: the primary key decides.
    func createBucket(_ bucket: BucketRecord) async throws
    func bucket(_ name: String) async throws -> BucketRecord?
    func buckets() async throws -> [BucketRecord]
    /// Throws `bucketNotEmpty` while objects (or versions, or delete markers) remain; returns the uploads it aborted, with their
    /// parts. Isolation: locks the bucket row, so no object is committed into it meanwhile.
    func deleteBucket(_ name: String) async throws -> [(UploadRecord, [PartRecord])]
    /// Number of objects and their total size. Isolation: one snapshot.
    func usage(bucket: String) async throws -> (objects: Int, bytes: Int64)

    func object(bucket: String, key: String) async throws -> ObjectRecord?
    /// The dataset, its migration and the object (and while mirroring the object's target copy
    /// and journal entry) in one snapshot: what a GET or HEAD needs. Nil when no such dataset.
    /// With `version`, that version of the key (the current object when it is that version); a
    /// delete marker found instead (latest, or the version named) is `marker`.
    func readState(bucket: String, key: String, version: VersionID?) async throws -> ObjectReadState?
    /// Inserts or replaces, giving the object a new version. On a versioned dataset the current
    /// object becomes a noncurrent version instead of being replaced (Enabled: always;
    /// Suspended: unless it is the `null` version, and the write, itself the `null` version,
    /// replaces a noncurrent `null` version); `precondition` sees the current
    /// record inside the transaction (conditional writes are atomic). On a dataset that mirrors,
    /// the target copy is recorded (`mirror.target` written) or the key journaled, in the same
    /// transaction. Returns the blobs no row refers to any more. Versions increase for a key
    /// across its whole life (deleted and written again included) and are not drawn from one
    /// counter row every writer would update. Isolation: locks the object row (and the
    /// migration row it reads) before `precondition` runs.
    func putObject(
        _ record: ObjectRecord, mirror: MirrorCommit, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void
    ) async throws -> WriteResult
    /// Deletes the object (and, mirrored, its target copy's row or a journal entry); returns the
    /// deleted object's blob and its target copy's, nil if there was none. With `ifVersion`,
    /// only that version is deleted: when the key holds another (or nothing), nothing changes
    /// (a lifecycle expiry never deletes a newer write). On a versioned dataset a delete marker
    /// becomes the key's latest version instead, and the object a noncurrent version (its blob
    /// stays), except a `null` version on a suspended dataset, which the `null` marker
    /// replaces. Isolation: locks the object row.
    func deleteObject(bucket: String, key: String, mirror: MirrorCommit, ifVersion: Int64?) async throws -> DeleteResult
    /// One version of a key, current or noncurrent, delete markers included; nil if none.
    func version(bucket: String, key: String, version: VersionID) async throws -> ObjectRecord?
    /// Removes one version for good (S3 DELETE with `versionId`): when it was the latest, the
    /// newest remaining version becomes the key's latest (the current object unless it is a
    /// marker). Returns the removed version (nil: there was none) and its blob. Versioned
    /// datasets only (they do not migrate). Isolation: locks the object row.
    /// `allowed` sees the version inside the transaction and throws to keep it (Object Lock).
    /// While the dataset migrates, the version's target copy is forgotten (`replica`), and a
    /// version made current again brings its copy along (or its key is queued).
    func deleteVersion(
        bucket: String, key: String, version: VersionID, allowed: @escaping @Sendable (ObjectRecord) throws -> Void
    ) async throws -> VersionDeletion
    /// Points `key`'s current object, if it is still version `version`, at another backend
    /// object holding the same bytes (an in-place placement keeps a version aside before the
    /// object under its key is replaced); false when the key has moved on. Written relaxed, as
    /// intents are (the write or delete that follows makes it durable; both bytes stay until
    /// then). Isolation: the version condition is in the UPDATE's WHERE clause.
    func relocate(bucket: String, key: String, version: Int64, blob: String, backendETag: String?) async throws -> Bool
    /// Every version with `from` <= (key, version) in listing order (key ascending, newest
    /// first within a key) and key < `until`, at most `limit`. Isolation: one snapshot.
    func versions(bucket: String, from: VersionCursor, until: [UInt8]?, limit: Int) async throws -> [ListedVersion]
    /// Sets a dataset's versioning state; refused (`phase`) while the dataset migrates.
    func setBucketVersioning(_ name: String, _ state: VersioningState) async throws
    /// Sets a lock-enabled dataset's Object Lock configuration (its default retention).
    func setBucketObjectLock(_ name: String, _ configuration: ObjectLockConfiguration) async throws
    /// Replaces the Object Lock state of `key`'s version `version` (current or noncurrent) with
    /// what `change` returns; `change` sees the version inside the transaction and throws to
    /// refuse. Nil when there is no such version. Isolation: locks the row.
    func updateLock(
        bucket: String, key: String, version: Int64, _ change: @escaping @Sendable (ObjectRecord) throws -> ObjectLockState
    ) async throws -> ObjectRecord?
    /// Objects with `from <= key < until` (byte order of the UTF-8 keys), at most `limit`.
    /// Isolation: one snapshot.
    func objects(bucket: String, from: [UInt8], until: [UInt8]?, limit: Int) async throws -> [ObjectRecord]
    /// Every blob a row refers to (objects and parts), for garbage collection at start.
    func referencedBlobs() async throws -> Set<String>
    /// Replaces the tag set of `key`'s version `version` (current or noncurrent; a write in
    /// between wins over the current one); returns the updated record, nil when that version is gone.
    /// Tags live in the catalog only: no new version, nothing journaled, the backend object
    /// untouched. Isolation: the version condition is in the UPDATE's WHERE clause.
    func updateTags(bucket: String, key: String, version: Int64, tags: [ObjectTag]) async throws -> ObjectRecord?
    /// Sets (nil: removes) a dataset's tag set; `noSuchBucket` when there is no such dataset.
    func setBucketTags(_ name: String, _ tags: [ObjectTag]?) async throws
    /// Sets (nil: removes) a dataset's lifecycle configuration; `noSuchBucket` likewise.
    func setBucketLifecycle(_ name: String, _ configuration: LifecycleConfiguration?) async throws
}

/// Multipart uploads and their parts.
public protocol MultipartCatalog: Sendable {
    func createUpload(_ upload: UploadRecord) async throws
    func upload(_ id: String) async throws -> UploadRecord?
    /// Replaces a part of the same number; returns the replaced part. Isolation: locks the
    /// upload row (an abort or completion meanwhile wins or waits).
    func putPart(_ part: PartRecord) async throws -> PartRecord?
    func parts(uploadID: String) async throws -> [PartRecord]
    /// Makes `record` the object and removes the upload; returns its parts and what the write
    /// replaced. Isolation: as `putObject`, and locks the upload row.
    func completeUpload(
        _ uploadID: String, record: ObjectRecord, mirror: MirrorCommit,
        precondition: @escaping @Sendable (ObjectRecord?) throws -> Void
    ) async throws -> (parts: [PartRecord], result: WriteResult)
    /// Removes the upload; returns its parts. Isolation: locks the upload row.
    func abortUpload(_ uploadID: String) async throws -> [PartRecord]
    func uploads(bucket: String) async throws -> [UploadRecord]
}

/// Intents: a write or delete of `key` on an in-place placement is about to change the backend
/// object before the catalog; a crash in between leaves the intent behind, and its key is
/// reconciled at the next start. Writes of a key are serialised by its lock (`KeyLocking`),
/// so one intent per key is enough; intents may be written relaxed (without waiting for the
/// disk): a lost one after a power failure leaves a stale row that reads refuse by its
/// backend ETag.
public protocol IntentCatalog: Sendable {
    /// Records (or takes over) the intent of `key` for `owner`.
    func beginIntent(bucket: String, key: String, owner: String, now: Date) async throws
    func endIntent(bucket: String, key: String) async throws
    /// Every intent left, in key order.
    func intents() async throws -> [Intent]
}

/// Key rotation: every sealed object and upload of a dataset whose DEK is wrapped under an
/// older KEK version gets re-wrapped.
public protocol KeyRotationCatalog: Sendable {
    /// Objects of `bucket` whose DEK is wrapped under a version below `version`, in key order.
    func objects(bucket: String, wrappedBelow version: UInt32, limit: Int) async throws -> [ObjectRecord]
    /// Replaces the seals of the given objects, each only if its row still holds that blob (a
    /// newer write wins), in one transaction; returns how many rows changed. Isolation: the
    /// blob condition is in each UPDATE's WHERE clause, so no lock is held across rows.
    func updateSeals(bucket: String, _ updates: [(key: String, blob: String, seal: SealRecord)]) async throws -> Int
    func uploads(bucket: String, wrappedBelow version: UInt32) async throws -> [UploadRecord]
    func updateSeal(uploadID: String, seal: SealRecord) async throws
    /// Objects and uploads per KEK version. Isolation: one snapshot.
    func keyUsage(bucket: String) async throws -> [UInt32: Int]
}

/// Migrations (DESIGN.md §3): phases with their recorded transitions, backfill progress,
/// verification results, and the target copies of objects.
public protocol MigrationCatalog: Sendable {
    func migration(_ bucket: String) async throws -> MigrationRecord?
    func migrations() async throws -> [MigrationRecord]
    /// Starts mirroring to `record.target` (phase `mirroring`); refused while a migration of the
    /// dataset is under way. The epoch follows the previous migration's. Isolation: locks the
    /// migration row.
    func startMigration(_ record: MigrationRecord, transition: PhaseTransition) async throws -> MigrationRecord
    /// Moves the phase from `transition.from` to `transition.to` if it still is `from`: abort
    /// forgets the target copies and the journal; retire makes the target the dataset's only
    /// placement (every object must have a current target copy and the journal be empty, both
    /// checked in the transaction). Isolation: locks the migration row; retirement also counts
    /// objects, copies and journal entries under that lock, and writes routed under an older
    /// epoch are refused by `putObject` once they see the new one.
    func changePhase(_ transition: PhaseTransition) async throws -> MigrationRecord
    func transitions(bucket: String) async throws -> [PhaseTransition]
    /// Isolation: only the row of `epoch` is updated (a backfill of an aborted migration cannot
    /// write over the next one's progress).
    func updateBackfill(bucket: String, epoch: Int, _ state: BackfillState) async throws
    func recordVerification(bucket: String, at: Date, clean: Bool, report: String) async throws
    func recordReplicationFailure(bucket: String, at: Date) async throws
    /// Changes write mode or backfill limits of a running migration.
    func tuneMigration(bucket: String, mode: WriteMode?, bandwidth: Int64??, parallelism: Int?) async throws

    func replica(bucket: String, key: String) async throws -> ReplicaRecord?
    /// Objects with `key >= from` in key order, each with its target copy's row if any.
    /// Isolation: one snapshot.
    func objectsWithReplicas(bucket: String, from: [UInt8], limit: Int) async throws -> [(ObjectRecord, ReplicaRecord?)]
    /// Records a target copy of `replica.version`, only if the object still has that version;
    /// returns whether it did and the blob of the copy it replaced. A backfill copy (`size`
    /// given) is counted in the migration's progress in the same transaction. Isolation: locks
    /// the object row while it compares the version. May be relaxed (a lost copy record only
    /// means the copy is made again).
    func commitReplica(_ replica: ReplicaRecord, size: Int64?) async throws -> (committed: Bool, replaced: String?)
    /// Forgets the target copy of a key (only the copy of `version`, when given).
    func dropReplica(bucket: String, key: String, version: Int64?) async throws -> Bool
    /// Every target copy's blob of a dataset (noncurrent versions' copies included).
    func replicaBlobs(bucket: String) async throws -> Set<String>
    /// Noncurrent versions (not markers) without a target copy of migration `epoch`, in listing
    /// order from `from`, at most `limit` (the version backfill). Isolation: one snapshot.
    func uncopiedVersions(bucket: String, epoch: Int, from: VersionCursor, limit: Int) async throws -> [ObjectRecord]
    /// Records the target copy of a noncurrent version if the version still exists and the
    /// migration is still `epoch`; returns whether it did. May be relaxed (a lost record means
    /// the copy is made again).
    func commitVersionCopy(_ copy: ReplicaRecord, epoch: Int) async throws -> Bool
    /// Noncurrent versions with their target copy of the current migration, in listing order
    /// from `from` (verification). Isolation: one snapshot.
    func versionsWithCopies(bucket: String, from: VersionCursor, limit: Int) async throws -> [(ObjectRecord, ReplicaRecord)]
    /// Noncurrent versions (not markers), and how many have a copy of the current migration.
    func versionCopyCounts(bucket: String) async throws -> (versions: Int, copied: Int)
}

/// The replication journal as a work queue (the shape of swift-jobs' `JobQueueDriver`): the
/// writes of a mirroring dataset enqueue their key in their own transaction (`putObject`,
/// `deleteObject`); workers claim due entries under a lease, then finish or fail them, fenced by
/// owner, so that two workers (of one gateway or of several) never hold the same entry, an
/// entry whose worker died is taken over once its lease expires, and a worker that lost its
/// lease cannot finish an entry someone else now holds.
public protocol ReplicationQueue: Sendable {
    /// Queues `key` (read-repair, or a sync write whose target copy failed); a key already
    /// queued is due again at once and released from any claim.
    func enqueue(bucket: String, key: String, now: Date) async throws
    /// Up to `limit` entries due at `now`, oldest first, not dead-lettered and not held by a
    /// live lease, now held by `owner` until `now + lease`. Isolation: skips locked rows and
    /// claims them in the same transaction.
    func claim(owner: String, lease: TimeInterval, limit: Int, now: Date) async throws -> [JournalEntry]
    /// Removes a claimed entry; `.lost` when `owner` no longer holds it (its lease was taken
    /// over), `.superseded` when a newer write queued the key again (the entry stays, for it).
    func finish(_ entry: JournalEntry, owner: String) async throws -> ClaimOutcome
    /// Records a failed attempt of a claimed entry: retried at `nextTry`, or dead-lettered, and
    /// released. Fenced like `finish`.
    func fail(_ entry: JournalEntry, owner: String, error: String, nextTry: Date, dead: Bool) async throws -> ClaimOutcome
    /// Gives a claimed entry back untouched (its worker cannot take it now). Fenced like `finish`.
    func release(_ entry: JournalEntry, owner: String) async throws -> ClaimOutcome
    /// Gives back every claim of owners whose name starts with `ownerPrefix`: a process of this
    /// gateway that ended without finishing them (at start; other gateways' claims expire).
    func releaseClaims(ownerPrefix: String) async throws -> Int

    /// Entries due at `now`, oldest first, not dead-lettered (whoever holds them).
    func dueJournal(now: Date, limit: Int) async throws -> [JournalEntry]
    /// Removes the entry if no newer write queued the key again (a sync write made the copy
    /// itself). Not fenced: the copy is current whoever else holds the entry.
    func finishJournal(_ entry: JournalEntry) async throws
    /// Records a failed attempt without a claim (maintenance and tests).
    func failJournal(_ entry: JournalEntry, error: String, nextTry: Date, dead: Bool) async throws
    func journal(bucket: String, key: String) async throws -> JournalEntry?
    /// Isolation: one snapshot.
    func journalStats(bucket: String) async throws -> JournalStats
    /// Puts dead-lettered entries back in the queue; returns how many.
    func retryDead(bucket: String, now: Date) async throws -> Int
}

/// What a fenced queue operation came to.
public enum ClaimOutcome: Sendable, Equatable {
    case done
    /// A newer write queued the key again: the entry stays (unclaimed) for it.
    case superseded
    /// The entry is no longer this owner's: its lease expired and another took it over.
    case lost
}

/// The whole catalog.
public protocol Catalog: ObjectCatalog, MultipartCatalog, IntentCatalog, KeyRotationCatalog, MigrationCatalog, ReplicationQueue, PrivacyCatalog {}

extension ObjectCatalog {
    /// A write that is not part of a routed request (maintenance): mirrored as the dataset's
    /// phase says, through the journal.
    public func putObject(_ record: ObjectRecord, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws -> String? {
        try await putObject(record, mirror: .current, precondition: precondition).replaced
    }

    public func deleteObject(bucket: String, key: String) async throws -> String? {
        try await deleteObject(bucket: bucket, key: key, mirror: .current).blob
    }

    public func deleteObject(bucket: String, key: String, mirror: MirrorCommit) async throws -> DeleteResult {
        try await deleteObject(bucket: bucket, key: key, mirror: mirror, ifVersion: nil)
    }

    /// Removes one version whatever protects it (maintenance and tests).
    public func deleteVersion(bucket: String, key: String, version: VersionID) async throws -> VersionDeletion {
        try await deleteVersion(bucket: bucket, key: key, version: version) { _ in }
    }

    public func readState(bucket: String, key: String) async throws -> ObjectReadState? {
        try await readState(bucket: bucket, key: key, version: nil)
    }
}

extension IntentCatalog {
    /// An intent of this process (no owner recorded).
    public func beginIntent(bucket: String, key: String, now: Date) async throws {
        try await beginIntent(bucket: bucket, key: key, owner: "", now: now)
    }
}
