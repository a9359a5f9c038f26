import Catalog

/// What the catalog says of a dataset's objects and uploads, as the front door lists them.
extension ObjectLayer {
    /// The object `key` of `dataset`: `noSuchKey` when there is none.
    public func object(_ dataset: String, key: String) async throws -> ObjectRecord {
        guard let r = try await catalog.object(bucket: dataset, key: key) else { throw DatasetError.noSuchKey(dataset, key) }
        return r
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
