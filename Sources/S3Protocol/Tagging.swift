/// One tag of an object or a bucket (S3 tagging).
public struct ObjectTag: Sendable, Equatable, Codable, Hashable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// S3 tag sets: the `x-amz-tagging` header (URL query encoding), the `Tagging` XML document,
/// and the limits S3 puts on both (S3 User Guide, "Categorizing your objects using tags";
/// "Using cost allocation S3 bucket tags").
public enum Tagging {
    public static let maxObjectTags = 10
    public static let maxBucketTags = 50
    public static let maxKeyLength = 128
    public static let maxValueLength = 256

    /// `k1=v1&k2=v2`, percent-encoded, `+` a space (form encoding).
    public static func parseHeader(_ raw: String, limit: Int = maxObjectTags) throws(S3Error) -> [ObjectTag] {
        var tags: [ObjectTag] = []
        for item in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) throws(S3Error) -> String {
                guard let d = URIEncoding.decode(s.replacingOccurrences(of: "+", with: " ")) else {
                    throw S3Error(.invalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters")
                }
                return d
            }
            tags.append(ObjectTag(try decode(pair[0]), pair.count > 1 ? try decode(pair[1]) : ""))
        }
        try validate(tags, limit: limit)
        return tags
    }

    /// `<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>`.
    public static func parseXML(_ body: [UInt8], limit: Int) throws(S3Error) -> [ObjectTag] {
        let root = try XMLRequests.root(body, "Tagging")
        guard let set = root.child("TagSet") else { throw XMLRequests.malformed }
        var tags: [ObjectTag] = []
        for t in set.all("Tag") {
            guard let key = t.child("Key")?.text, let value = t.child("Value")?.text else { throw XMLRequests.malformed }
            tags.append(ObjectTag(key, value))
        }
        try validate(tags, limit: limit)
        return tags
    }

    public static func xml(_ tags: [ObjectTag]) -> String {
        var w = XMLWriter()
        w.open("Tagging")
        w.group("TagSet") { w in
            for t in tags {
                w.group("Tag") { w in
                    w.element("Key", t.key)
                    w.element("Value", t.value)
                }
            }
        }
        w.close("Tagging")
        return w.result
    }

    /// At most `limit` tags, distinct keys of 1–128 characters and values of at most 256, made
    /// of letters, digits, spaces and `+ - = . _ : / @`; keys beginning `aws:` are AWS's.
    public static func validate(_ tags: [ObjectTag], limit: Int) throws(S3Error) {
        guard tags.count <= limit else {
            throw S3Error(
                .badRequest,
                limit == maxObjectTags ? "Object tags cannot be greater than \(limit)" : "Bucket tag count cannot be greater than \(limit)")
        }
        var seen = Set<String>()
        for t in tags {
            guard !t.key.isEmpty, t.key.count <= maxKeyLength, allowed(t.key), !t.key.lowercased().hasPrefix("aws:") else {
                throw S3Error(.invalidTag, "The TagKey you have provided is invalid", details: [("TagKey", t.key)])
            }
            guard t.value.count <= maxValueLength, allowed(t.value) else {
                throw S3Error(.invalidTag, "The TagValue you have provided is invalid", details: [("TagKey", t.key)])
            }
            guard seen.insert(t.key).inserted else {
                throw S3Error(.invalidTag, "Cannot provide multiple Tags with the same key", details: [("TagKey", t.key)])
            }
        }
    }

    static func allowed(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { s in
            s.properties.isAlphabetic || s.properties.numericType != nil || s == " " || "+-=._:/@".unicodeScalars.contains(s)
        }
    }
}
