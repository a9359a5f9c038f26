/// Bucket and key rules (AWS S3 "Bucket naming rules", "Naming Amazon S3 objects").
public enum Names {
    public static let maxKeyLength = 1024

    /// Nil when valid, else the reason.
    public static func bucketNameProblem(_ name: String) -> String? {
        let u = Array(name.utf8)
        guard (3...63).contains(u.count) else { return "Bucket names must be between 3 and 63 characters long." }
        for c in u {
            let ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
            guard ok else { return "Bucket names can consist only of lowercase letters, numbers, dots (.), and hyphens (-)." }
        }
        guard let f = u.first, let l = u.last, isAlnum(f), isAlnum(l) else {
            return "Bucket names must begin and end with a letter or number."
        }
        if name.contains("..") { return "Bucket names must not contain two adjacent periods." }
        if name.contains(".-") || name.contains("-.") { return "Bucket names must not contain a period next to a hyphen." }
        let quads = name.split(separator: ".")
        if quads.count == 4, quads.allSatisfy({ UInt8($0) != nil }) { return "Bucket names must not be formatted as an IP address." }
        if name.hasPrefix("xn--") || name.hasPrefix("sthree-") || name.hasPrefix("amzn-s3-demo-") {
            return "Bucket names must not start with a reserved prefix."
        }
        if name.hasSuffix("-s3alias") || name.hasSuffix("--ol-s3") || name.hasSuffix(".mrap") || name.hasSuffix("--x-s3") {
            return "Bucket names must not end with a reserved suffix."
        }
        return nil
    }

    /// Nil when valid. Keys are any UTF-8 up to 1,024 bytes; we also refuse NUL, which no
    /// client can round-trip through XML.
    public static func keyProblem(_ key: String) -> S3Error? {
        if key.isEmpty { return S3Error(.invalidArgument, "The object key must not be empty.") }
        if key.utf8.count > maxKeyLength {
            return S3Error(.keyTooLong, "Your key is too long", details: [("MaxSizeAllowed", "1024"), ("Size", String(key.utf8.count))])
        }
        if key.utf8.contains(0) { return S3Error(.invalidArgument, "Object keys must not contain NUL characters.") }
        return nil
    }

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
}
