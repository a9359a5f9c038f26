/// Quoting for SQL text sent to PostgreSQL, as `quote_ident` and `quote_literal` do. Values
/// are written as untyped literals (`'…'`), so the server reads them with the column's own
/// input function, exactly as it wrote them with its output function in the change stream.
/// Requires `standard_conforming_strings = on` (the default since 9.1; the replicator sets it).
public enum SQLText {
    public static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func qualified(_ namespace: String, _ name: String) -> String {
        identifier(namespace) + "." + identifier(name)
    }

    public static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// A literal from the bytes of a text-format value (the database's encoding, UTF-8 here).
    static func literal(bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 2)
        out.append(UInt8(ascii: "'"))
        for b in bytes {
            out.append(b)
            if b == UInt8(ascii: "'") { out.append(b) }
        }
        out.append(UInt8(ascii: "'"))
        return String(decoding: out, as: UTF8.self)
    }

    /// A dollar-quoting tag that does not occur in `body`.
    static func dollarTag(for body: String, seed: inout UInt64) -> String {
        while true {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let tag = "$p" + String(seed >> 16, radix: 36) + "$"
            if !body.contains(tag) { return tag }
        }
    }
}
