/// The messages of PostgreSQL's built-in logical decoding plugin `pgoutput` (protocol
/// version 1, as `pg_logical_slot_get_binary_changes(…, 'proto_version', '1',
/// 'publication_names', …)` returns them, one message per row), decoded by a pure parser:
/// PostgreSQL documentation §55.9 "Logical Replication Message Formats". Integers are big
/// endian; strings are NUL-terminated; LSNs are 64-bit; times are microseconds since
/// 2000-01-01 UTC.
public enum PgOutputMessage: Sendable, Equatable {
    case begin(finalLSN: UInt64, commitTime: Int64, xid: UInt32)
    case commit(flags: UInt8, commitLSN: UInt64, endLSN: UInt64, commitTime: Int64)
    case origin(lsn: UInt64, name: String)
    case relation(Relation)
    case type(oid: UInt32, namespace: String, name: String)
    case insert(relation: UInt32, new: [Column])
    /// `old` is the key (`K`) or the whole old row (`O`, REPLICA IDENTITY FULL) when the
    /// update changed the key or the identity is FULL; nil otherwise.
    case update(relation: UInt32, old: OldRow?, new: [Column])
    case delete(relation: UInt32, old: OldRow)
    case truncate(relations: [UInt32], cascade: Bool, restartIdentity: Bool)
    case message(transactional: Bool, lsn: UInt64, prefix: String, content: [UInt8])

    public struct Relation: Sendable, Equatable {
        public var oid: UInt32
        public var namespace: String
        public var name: String
        /// `relreplident`: d(efault: the primary key), n(othing), f(ull), i(ndex).
        public var replicaIdentity: UInt8
        public var columns: [ColumnInfo]
    }

    public struct ColumnInfo: Sendable, Equatable {
        public var isKey: Bool
        public var name: String
        public var typeOID: UInt32
        public var typeModifier: Int32
    }

    public enum Column: Sendable, Equatable {
        case null
        /// An unchanged TOASTed value: not sent, the target keeps what it has.
        case unchangedToast
        case text([UInt8])
        case binary([UInt8])
    }

    public enum OldRow: Sendable, Equatable {
        case key([Column])
        case full([Column])
    }
}

public struct PgOutputError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

extension PgOutputMessage {
    /// Decodes one message; every malformed input is a typed error, never a crash.
    public static func decode(_ bytes: [UInt8]) throws(PgOutputError) -> PgOutputMessage {
        var r = Reader(bytes: bytes)
        let tag = try r.byte()
        let message: PgOutputMessage
        switch tag {
        case UInt8(ascii: "B"):
            message = .begin(finalLSN: try r.u64(), commitTime: Int64(bitPattern: try r.u64()), xid: try r.u32())
        case UInt8(ascii: "C"):
            message = .commit(flags: try r.byte(), commitLSN: try r.u64(), endLSN: try r.u64(), commitTime: Int64(bitPattern: try r.u64()))
        case UInt8(ascii: "O"):
            message = .origin(lsn: try r.u64(), name: try r.string())
        case UInt8(ascii: "R"):
            let oid = try r.u32(), namespace = try r.string(), name = try r.string(), identity = try r.byte()
            let count = try r.u16()
            var columns: [ColumnInfo] = []
            for _ in 0..<count {
                columns.append(
                    ColumnInfo(
                        isKey: try r.byte() & 1 == 1, name: try r.string(), typeOID: try r.u32(),
                        typeModifier: Int32(bitPattern: try r.u32())))
            }
            message = .relation(Relation(oid: oid, namespace: namespace, name: name, replicaIdentity: identity, columns: columns))
        case UInt8(ascii: "Y"):
            message = .type(oid: try r.u32(), namespace: try r.string(), name: try r.string())
        case UInt8(ascii: "I"):
            let relation = try r.u32()
            guard try r.byte() == UInt8(ascii: "N") else { throw PgOutputError("insert: expected a new tuple ('N')") }
            message = .insert(relation: relation, new: try r.tuple())
        case UInt8(ascii: "U"):
            let relation = try r.u32()
            var old: OldRow?
            var marker = try r.byte()
            if marker == UInt8(ascii: "K") || marker == UInt8(ascii: "O") {
                old = marker == UInt8(ascii: "K") ? .key(try r.tuple()) : .full(try r.tuple())
                marker = try r.byte()
            }
            guard marker == UInt8(ascii: "N") else { throw PgOutputError("update: expected a new tuple ('N')") }
            message = .update(relation: relation, old: old, new: try r.tuple())
        case UInt8(ascii: "D"):
            let relation = try r.u32()
            let marker = try r.byte()
            guard marker == UInt8(ascii: "K") || marker == UInt8(ascii: "O") else {
                throw PgOutputError("delete: expected an old key ('K') or row ('O')")
            }
            message = .delete(relation: relation, old: marker == UInt8(ascii: "K") ? .key(try r.tuple()) : .full(try r.tuple()))
        case UInt8(ascii: "T"):
            let count = try r.u32()
            let options = try r.byte()
            guard Int(count) <= r.remaining / 4 else { throw PgOutputError("truncate: \(count) relations do not fit the message") }
            var oids: [UInt32] = []
            for _ in 0..<count { oids.append(try r.u32()) }
            message = .truncate(relations: oids, cascade: options & 1 != 0, restartIdentity: options & 2 != 0)
        case UInt8(ascii: "M"):
            let flags = try r.byte(), lsn = try r.u64(), prefix = try r.string()
            let length = try r.u32()
            message = .message(transactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: try r.take(Int(length)))
        default:
            throw PgOutputError("unsupported message type \(tag) (protocol version 1 without streaming is expected)")
        }
        guard r.remaining == 0 else { throw PgOutputError("\(r.remaining) trailing bytes after a '\(Character(Unicode.Scalar(tag)))' message") }
        return message
    }
}

/// Bounds-checked big-endian reads over one message.
struct Reader {
    let bytes: [UInt8]
    var at = 0

    var remaining: Int { bytes.count - at }

    mutating func take(_ n: Int) throws(PgOutputError) -> [UInt8] {
        guard n >= 0, n <= remaining else { throw PgOutputError("truncated message: \(n) bytes needed at offset \(at), \(remaining) left") }
        defer { at += n }
        return Array(bytes[at..<at + n])
    }

    mutating func byte() throws(PgOutputError) -> UInt8 { try take(1)[0] }

    mutating func uint(_ width: Int) throws(PgOutputError) -> UInt64 {
        var v: UInt64 = 0
        for b in try take(width) { v = v << 8 | UInt64(b) }
        return v
    }

    mutating func u16() throws(PgOutputError) -> UInt16 { UInt16(try uint(2)) }
    mutating func u32() throws(PgOutputError) -> UInt32 { UInt32(try uint(4)) }
    mutating func u64() throws(PgOutputError) -> UInt64 { try uint(8) }

    mutating func string() throws(PgOutputError) -> String {
        guard let end = bytes[at...].firstIndex(of: 0) else { throw PgOutputError("unterminated string at offset \(at)") }
        defer { at = end + 1 }
        return String(decoding: bytes[at..<end], as: UTF8.self)
    }

    /// TupleData: Int16 column count, then per column 'n', 'u', or 't'/'b' + Int32 length + bytes.
    mutating func tuple() throws(PgOutputError) -> [PgOutputMessage.Column] {
        let count = try u16()
        var columns: [PgOutputMessage.Column] = []
        for _ in 0..<count {
            switch try byte() {
            case UInt8(ascii: "n"): columns.append(.null)
            case UInt8(ascii: "u"): columns.append(.unchangedToast)
            case UInt8(ascii: "t"): columns.append(.text(try take(Int(try u32()))))
            case UInt8(ascii: "b"): columns.append(.binary(try take(Int(try u32()))))
            case let k: throw PgOutputError("unknown column kind \(k) in tuple data")
            }
        }
        return columns
    }
}
