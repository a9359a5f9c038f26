import Foundation

/// How identifying a dataset's content is (DESIGN.md §7): a project reads an `identifying`
/// dataset only through its view; `open` (the default) and `pseudonymised` datasets are read as
/// stored unless the project has a view on them.
public enum Sensitivity: String, Sendable, Equatable, Codable, CaseIterable {
    case open, pseudonymised, identifying
}

/// A view's output for one source object, materialised (sealed, on the local store) so HEAD,
/// ranges and listings agree. It is the output of exactly one (source version, view version,
/// opt-out registry version, key epoch): `identity` names the last three; any change of one of
/// the four makes it stale, and the next read computes a new one.
public struct ViewOutputRecord: Sendable, Equatable {
    public var bucket: String
    public var key: String
    public var project: String
    /// The source object's catalog version (`ObjectRecord.version`).
    public var sourceVersion: Int64
    public var identity: String
    public var blob: String
    public var size: Int64
    public var etag: String
    public var created: Date
    public var seal: SealRecord
    public var rowsRead: Int
    public var rowsServed: Int
    public var rowsOptedOut: Int

    public init(
        bucket: String, key: String, project: String, sourceVersion: Int64, identity: String, blob: String, size: Int64, etag: String,
        created: Date, seal: SealRecord, rowsRead: Int, rowsServed: Int, rowsOptedOut: Int
    ) {
        self.bucket = bucket
        self.key = key
        self.project = project
        self.sourceVersion = sourceVersion
        self.identity = identity
        self.blob = blob
        self.size = size
        self.etag = etag
        self.created = created
        self.seal = seal
        self.rowsRead = rowsRead
        self.rowsServed = rowsServed
        self.rowsOptedOut = rowsOptedOut
    }
}

/// Datasets' sensitivity and the view outputs computed for projects.
public protocol PrivacyCatalog: Sendable {
    /// Read from the database on every call (never cached), so a change made by the CLI applies
    /// to the next request. Nil: no such dataset.
    func sensitivity(of bucket: String) async throws -> Sensitivity?
    func setSensitivity(_ bucket: String, _ sensitivity: Sensitivity) async throws
    /// The project's current output for `key`, whatever it was computed from.
    func viewOutput(bucket: String, key: String, project: String) async throws -> ViewOutputRecord?
    /// Records an output, replacing the project's previous one for the key; returns the blob
    /// it replaced (to discard). Durable before it returns.
    func putViewOutput(_ output: ViewOutputRecord) async throws -> String?
    /// Forgets outputs (of a dataset, or of one project on it); returns their blobs.
    func dropViewOutputs(bucket: String, project: String?) async throws -> [String]
    /// The keys the project has outputs for.
    func viewOutputKeys(bucket: String, project: String) async throws -> [String]
    /// Forgets one output, if it is still the one of `blob`; returns whether it did.
    func dropViewOutput(bucket: String, key: String, project: String, blob: String) async throws -> Bool
    func viewOutputBlobs() async throws -> Set<String>
}
