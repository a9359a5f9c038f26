/// `x-amz-copy-source: [/]bucket/key[?versionId=…]`, percent-encoded (S3 CopyObject).
public enum CopySource {
    /// The bucket and key it names, and the version (`VersionID`), nil when none is named.
    public static func location(_ raw: String) throws(S3Error) -> (bucket: String, key: String, version: VersionID?) {
        var text = Substring(raw)
        var version: VersionID?
        if let q = text.firstIndex(of: "?") {
            let query = text[text.index(after: q)...]
            if let v = query.split(separator: "&").first(where: { $0.hasPrefix("versionId=") }) {
                version = try VersionID.parse(URIEncoding.decode(v.dropFirst("versionId=".count)) ?? "\(v)", argument: "x-amz-copy-source")
            }
            text = text[..<q]
        }
        if text.hasPrefix("/") { text = text.dropFirst() }
        guard let decoded = URIEncoding.decode(text), let slash = decoded.firstIndex(of: "/") else {
            throw S3Error(
                .invalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                details: [("ArgumentName", "x-amz-copy-source")])
        }
        let bucket = String(decoded[..<slash]), key = String(decoded[decoded.index(after: slash)...])
        guard !key.isEmpty else {
            throw S3Error(.invalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        }
        return (bucket, key, version)
    }
}
