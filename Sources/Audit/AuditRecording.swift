/// Where audited events go: appended in order and committed together (a request's entry with
/// the objects it read; the gateway's own actions). `AuditWriter` and the log itself conform.
public protocol AuditRecording: Sendable {
    func record(_ events: [AuditEvent]) async throws
}

extension AuditWriter: AuditRecording {
    public func record(_ events: [AuditEvent]) async throws {
        try await append(events)
    }
}

extension AuditLog: AuditRecording {
    /// Appended at once, in this process's own transaction (the CLI's actions).
    public func record(_ events: [AuditEvent]) async throws {
        try append(events)
    }
}

/// The audit log's store as the gateway uses it: appends (one transaction per call, each with
/// its signed checkpoint), the public side (checkpoints, proofs, the verifier key) and
/// retention. `AuditLog` (SQLite) is the embedded one; a shared database must sequence the
/// appends of every gateway into one tree (one leaf index each, no gaps, no forks).
public protocol AuditLogStoring: AuditRecording {
    /// Appends the events in order, in one transaction; returns the index of the first.
    func append(_ events: [AuditEvent]) throws -> UInt64
    func latestCheckpoint() throws -> String?
    func inclusionProof(index: UInt64, size: UInt64) throws -> (leaf: MerkleTree.Hash, proof: [MerkleTree.Hash])
    func consistencyProof(oldSize: UInt64, newSize: UInt64) throws -> [MerkleTree.Hash]
    /// The checkpoints' verifier key, in the C2SP note-verifier form.
    var verifierKey: String { get }
    /// Shreds the period keys before `period`; returns the periods shredded.
    func expire(before period: String) throws -> [String]
}

extension AuditLog: AuditLogStoring {
    public var verifierKey: String { signer.verifier.encoded }
}
