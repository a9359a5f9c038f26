import Catalog
import S3Protocol

/// What the catalog says of a dataset's objects and uploads, as the front door lists them.
extension ObjectLayer {
    /// The object `key` of `dataset` (the version named, current or not): `noSuchKey` when
    /// there is none, `DeleteMarkerFound` when its latest version (or the one named) is a
    /// delete marker.
    public func object(_ dataset: String, key: String, version: VersionID? = nil) async throws -> ObjectRecord {
        guard let version else {
            guard let r = try await catalog.object(bucket: dataset, key: key) else {
                if let b = try await catalog.bucket(dataset), b.versioning != nil,
                    let latest = try await catalog.readState(bucket: dataset, key: key)?.marker
                {
                    throw DeleteMarkerFound(marker: latest, named: false)
                }
                throw DatasetError.noSuchKey(dataset, key)
            }
            return r
        }
        guard let r = try await catalog.version(bucket: dataset, key: key, version: version) else { throw DatasetError.noSuchKey(dataset, key) }
        if r.deleteMarker { throw DeleteMarkerFound(marker: r, named: true) }
        return r
    }

    /// One page of `dataset`'s versions (S3 ListObjectVersions): every version and delete
    /// marker, by key and newest first within a key, from `start` on.
    public func listVersions(
        _ dataset: String, prefix: String, delimiter: String?, start: VersionCursor, skipPrefixesUpTo: String?, maxKeys: Int
    ) async throws -> ListingPage<ListedVersion> {
        _ = try await self.dataset(dataset)
        let catalog = catalog
        return try await Listing.page(
            prefix: prefix, delimiter: delimiter, start: start, skipPrefixesUpTo: skipPrefixesUpTo, maxKeys: maxKeys,
            key: { $0.record.key }, cursorKey: { $0.key }, at: { VersionCursor(key: $0) },
            after: { VersionCursor(key: Array($0.record.key.utf8), below: $0.record.version) },
            fetch: { from, until, limit in try await catalog.versions(bucket: dataset, from: from, until: until, limit: limit) })
    }

    /// One page of `dataset`'s objects (S3 ListObjects semantics, `Listing.page`).
    public func list(
        _ dataset: String, prefix: String, delimiter: String?, from: [UInt8], skipPrefixesUpTo: String?,
        maxKeys: Int
    ) async throws -> ListingPage<ObjectRecord> {
        _ = try await self.dataset(dataset)
        let catalog = catalog
        return try await Listing.page(
            prefix: prefix, delimiter: delimiter, from: from, skipPrefixesUpTo: skipPrefixesUpTo, maxKeys: maxKeys, key: { $0.key },
            fetch: { from, until, limit in try await catalog.objects(bucket: dataset, from: from, until: until, limit: limit) })
    }

    public func parts(of upload: UploadRecord) async throws -> [PartRecord] {
        try await catalog.parts(uploadID: upload.uploadID)
    }

    /// The unfinished uploads of `dataset`.
    public func uploads(_ dataset: String) async throws -> [UploadRecord] {
        _ = try await self.dataset(dataset)
        return try await catalog.uploads(bucket: dataset)
    }
}
