import Crypto

/// S3 entity tags: `"md5hex"` for a single PUT, `"md5(concat(part md5s))-N"` for multipart.
public enum ETag {
    public static func quoted(md5: some Sequence<UInt8>) -> String { "\"\(Hex.encode(md5))\"" }

    /// The raw MD5 of a single-part ETag, nil for multipart or malformed tags.
    public static func md5(of etag: String) -> [UInt8]? {
        let bare = unquoted(etag)
        guard bare.utf8.count == 32 else { return nil }
        return Hex.decode(bare)
    }

    public static func unquoted(_ etag: String) -> String {
        var s = Substring(etag.trimmingSpaces())
        if s.hasPrefix("W/") { s = s.dropFirst(2) }
        if s.hasPrefix("\"") { s = s.dropFirst() }
        if s.hasSuffix("\"") { s = s.dropLast() }
        return String(s)
    }

    public static func multipart(partMD5s: [[UInt8]]) -> String {
        var h = Insecure.MD5()
        for p in partMD5s { h.update(data: p) }
        return "\"\(Hex.encode(h.finalize()))-\(partMD5s.count)\""
    }
}
