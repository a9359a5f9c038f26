import Catalog

/// What the object layer refuses or cannot do, with what it concerns (STYLE.md §2: a struct
/// with a stable code and context). The gateway maps it to an S3 error at its edge; the
/// lower layers' own errors (`CatalogError`, `StoreError`, `SealingError`, `KeyringError`)
/// pass through unchanged.
public struct DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case noSuchDataset, noSuchKey, noSuchUpload, backendNotConfigured, layoutNotSupported, keysUnavailable
            case targetUnavailable, uploadFromOlderVersion, conflict, versioningUnavailable, locked, reservedKey, viewFailed
        }

        let base: Base
        public var description: String { base.rawValue }

        /// The dataset does not exist.
        public static let noSuchDataset = Code(base: .noSuchDataset)
        /// No object under the key.
        public static let noSuchKey = Code(base: .noSuchKey)
        /// No such multipart upload of this dataset and key.
        public static let noSuchUpload = Code(base: .noSuchUpload)
        /// The dataset's placement names a backend this gateway has not configured.
        public static let backendNotConfigured = Code(base: .backendNotConfigured)
        /// The placement's layout is not one this version knows.
        public static let layoutNotSupported = Code(base: .layoutNotSupported)
        /// The dataset is sealed and this process has no keyring (no master key).
        public static let keysUnavailable = Code(base: .keysUnavailable)
        /// A write of a dataset mirrored in sync mode was not applied: its target failed.
        public static let targetUnavailable = Code(base: .targetUnavailable)
        /// A multipart upload started by a version that did not record its backend object.
        public static let uploadFromOlderVersion = Code(base: .uploadFromOlderVersion)
        /// Concurrent writes of the key kept the change from applying; retrying may succeed.
        public static let conflict = Code(base: .conflict)
        /// Versioning cannot be turned on for the dataset (its placement or its migration).
        public static let versioningUnavailable = Code(base: .versioningUnavailable)
        /// The version is protected by Object Lock (retention or legal hold).
        public static let locked = Code(base: .locked)
        /// The key names what the dataset's placement keeps for itself (version copies).
        public static let reservedKey = Code(base: .reservedKey)
        /// A project's view of the object cannot be computed (a malformed source, a column the
        /// view names and the file lacks): nothing of it is served.
        public static let viewFailed = Code(base: .viewFailed)
    }

    public var code: Code
    public var dataset: String?
    public var key: String?
    /// What else it concerns: the backend or layout named, the operation refused ("write", "delete").
    public var subject: String?
    /// For operators and logs.
    public var detail: String

    public init(_ code: Code, dataset: String? = nil, key: String? = nil, subject: String? = nil, _ detail: String = "") {
        self.code = code
        self.dataset = dataset
        self.key = key
        self.subject = subject
        self.detail = detail
    }

    public var description: String {
        "\(code)" + (dataset.map { " \($0)" } ?? "") + (key.map { "/\($0)" } ?? "") + (detail.isEmpty ? "" : ": \(detail)")
    }

    public static func noSuchDataset(_ name: String) -> DatasetError { DatasetError(.noSuchDataset, dataset: name) }
    public static func noSuchKey(_ dataset: String, _ key: String) -> DatasetError { DatasetError(.noSuchKey, dataset: dataset, key: key) }
}

/// A read found a delete marker (S3 versioning): the key's latest version when none was
/// named (`named` false: the key reads as absent), or the version the request named.
public struct DeleteMarkerFound: Error, Sendable, Equatable {
    public var marker: ObjectRecord
    public var named: Bool

    public init(marker: ObjectRecord, named: Bool) {
        self.marker = marker
        self.named = named
    }
}
