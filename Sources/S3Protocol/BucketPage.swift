import Foundation

/// ListBuckets pagination (`max-buckets`, `continuation-token`, `prefix`, `bucket-region`),
/// over bucket names in byte order. The continuation token is the last name returned,
/// base64-encoded: opaque to clients, and a page resumes after that name even if it was
/// deleted in between.
public struct BucketPage: Sendable, Equatable {
    public static let maxBucketsLimit = 10_000
    public var maxBuckets: Int?
    public var after: String?
    public var prefix: String?
    public var region: String?

    public init(maxBuckets: String?, continuationToken: String?, prefix: String?, region: String?) throws(S3Error) {
        if let m = maxBuckets {
            guard let n = Int(m), n >= 1, n <= Self.maxBucketsLimit else {
                throw S3Error(
                    .invalidArgument, "Argument max-buckets must be an integer between 1 and \(Self.maxBucketsLimit)",
                    details: [("ArgumentName", "max-buckets"), ("ArgumentValue", m)])
            }
            self.maxBuckets = n
        }
        if let token = continuationToken {
            guard let data = Data(base64Encoded: token), !data.isEmpty, let name = String(data: data, encoding: .utf8) else {
                throw S3Error(.invalidArgument, "The continuation token provided is incorrect", details: [("ArgumentName", "continuation-token")])
            }
            after = name
        }
        self.prefix = prefix
        self.region = region
    }

    /// The buckets of this page, in name order, and the token of the next page (nil on the last).
    public func select<B>(_ all: [B], _ nameAndRegion: (B) -> (String, String)) -> ([B], String?) {
        let matching = all.filter { b in
            let (name, region) = nameAndRegion(b)
            return (prefix.map { name.hasPrefix($0) } ?? true) && (self.region.map { region == $0 } ?? true)
                && (after.map { Array($0.utf8).lexicographicallyPrecedes(Array(name.utf8)) } ?? true)
        }.sorted { Array(nameAndRegion($0).0.utf8).lexicographicallyPrecedes(Array(nameAndRegion($1).0.utf8)) }
        guard let maxBuckets, matching.count > maxBuckets else { return (matching, nil) }
        let page = Array(matching.prefix(maxBuckets))
        return (page, page.last.map { Data(nameAndRegion($0).0.utf8).base64EncodedString() })
    }
}
