import Foundation

/// User metadata values beyond US-ASCII, as S3 handles them (AWS S3 user guide, "Working with
/// object metadata"): RFC 2047 encoded-words in a value are decoded before it is stored, and a
/// stored value with non-ASCII characters is returned as one RFC 2047 encoded-word
/// (`=?UTF-8?B?…?=`), so response headers stay mail-safe ASCII.
public enum MetadataEncoding {
    /// The value to store: encoded-words (`=?charset?B|Q?text?=`, UTF-8 or US-ASCII) decoded,
    /// whitespace between adjacent encoded-words dropped (RFC 2047 §6.2); anything else kept.
    public static func decode(_ value: String) -> String {
        guard value.contains("=?") else { return value }
        var out = ""
        var rest = Substring(value)
        var pendingSpace = ""
        var lastWasWord = false
        while !rest.isEmpty {
            if rest.hasPrefix("=?"), let (decoded, after) = word(rest) {
                if !lastWasWord { out += pendingSpace }
                pendingSpace = ""
                out += decoded
                rest = after
                lastWasWord = true
                continue
            }
            let c = rest.removeFirst()
            if c == " " || c == "\t" {
                pendingSpace.append(c)
                continue
            }
            out += pendingSpace
            pendingSpace = ""
            out.append(c)
            lastWasWord = false
        }
        return out + pendingSpace
    }

    /// The value to send: as stored when it is printable ASCII, else one encoded-word.
    public static func encode(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 >= 0x7F || ($0 < 0x20 && $0 != 0x09) }) else { return value }
        return "=?UTF-8?B?" + Data(value.utf8).base64EncodedString() + "?="
    }

    /// One encoded-word at the start of `s`, decoded, and what follows it.
    static func word(_ s: Substring) -> (String, Substring)? {
        let parts = s.dropFirst(2).split(separator: "?", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[3].hasPrefix("="),
            ["utf-8", "us-ascii"].contains(parts[0].lowercased())
        else { return nil }
        let text = parts[2]
        let bytes: [UInt8]?
        switch parts[1].uppercased() {
        case "B": bytes = Data(base64Encoded: String(text)).map(Array.init)
        case "Q": bytes = quoted(text)
        default: return nil
        }
        guard let bytes, let decoded = String(validating: bytes, as: UTF8.self) else { return nil }
        return (decoded, parts[3].dropFirst())
    }

    /// RFC 2047 "Q" encoding: `_` is a space, `=XX` a byte.
    static func quoted(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var it = Array(text.utf8)[...]
        while let c = it.popFirst() {
            switch c {
            case UInt8(ascii: "_"): out.append(0x20)
            case UInt8(ascii: "="):
                guard it.count >= 2, let b = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(b)
                it = it.dropFirst(2)
            default: out.append(c)
            }
        }
        return out
    }
}
