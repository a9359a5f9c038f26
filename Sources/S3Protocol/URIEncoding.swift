/// Percent-encoding as SigV4 canonicalisation defines it ("UriEncode" in the AWS Signature
/// Version 4 reference): every byte except the unreserved `A-Z a-z 0-9 - . _ ~` is written `%XY`
/// with upper-case hex; `/` is kept in paths.
public enum URIEncoding {
    private static let hex = Array("0123456789ABCDEF".utf8)

    public static func encode(_ text: some StringProtocol, keepSlash: Bool = false) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            if isUnreserved(b) || (keepSlash && b == UInt8(ascii: "/")) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// Decodes `%XY` escapes; `+` stays a plus. Returns nil on a malformed escape or on bytes
    /// that are not UTF-8 (S3 keys and query values are UTF-8).
    public static func decode(_ text: some StringProtocol) -> String? {
        let u = Array(text.utf8)
        guard u.contains(UInt8(ascii: "%")) else { return String(text) }
        var out = [UInt8]()
        out.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "%") {
                guard i + 2 < u.count, let v = Hex.decode(String(decoding: u[(i + 1)...(i + 2)], as: UTF8.self)) else {
                    return nil
                }
                out.append(v[0])
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Splits a raw query string into decoded (name, value) pairs, in order.
    public static func parseQuery(_ raw: String) -> [(String, String)]? {
        var result: [(String, String)] = []
        for item in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]) else { return nil }
            let value = parts.count > 1 ? decode(parts[1]) : ""
            guard let value else { return nil }
            result.append((name, value))
        }
        return result
    }
}
