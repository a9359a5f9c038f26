import Foundation

/// One audited action, as the gateway or the CLI describes it.
public struct AuditEvent: Sendable, Equatable {
    public var time: Date
    /// Who: a user name, `root`, a service key name, or the access key id a refused request claimed.
    public var principal: String
    public var project: String?
    public var purpose: String?
    /// What: an S3 operation (`GetObject`), or `login`, `phase.cutover`, `grant`, `keys.rotate`, …
    public var action: String
    public var dataset: String?
    public var key: String?
    /// The object version read or written, when the action names one object.
    public var version: String?
    public var bytes: Int64?
    /// `allowed`, `denied`, `failed` or `ok`.
    public var result: String
    public var status: Int?
    public var requestID: String?
    public var source: String?
    public var detail: String?

    public init(
        time: Date, principal: String, project: String? = nil, purpose: String? = nil, action: String,
        dataset: String? = nil, key: String? = nil, version: String? = nil, bytes: Int64? = nil, result: String,
        status: Int? = nil, requestID: String? = nil, source: String? = nil, detail: String? = nil
    ) {
        self.time = time
        self.principal = principal
        self.project = project
        self.purpose = purpose
        self.action = action
        self.dataset = dataset
        self.key = key
        self.version = version
        self.bytes = bytes
        self.result = result
        self.status = status
        self.requestID = requestID
        self.source = source
        self.detail = detail
    }
}

extension AuditEvent {
    /// The action of the entry recording an object an operation read besides its target (a
    /// copy's source): `CopyObject.source`, `UploadPartCopy.source`.
    public static func sourceRead(of action: String) -> String { action + ".source" }

    /// Whether the event records bytes of an object read on the principal's behalf.
    public var isObjectRead: Bool { action == "GetObject" || action.hasSuffix(".source") }
}

/// An event at its place in the log: the bytes hashed into the tree (canonical JSON, keys
/// sorted, no insignificant whitespace, absent fields omitted) carry the index, so an entry
/// moved to another position no longer matches its leaf.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var index: UInt64
    public var time: String
    public var principal: String
    public var project: String?
    public var purpose: String?
    public var action: String
    public var dataset: String?
    public var key: String?
    public var version: String?
    public var bytes: Int64?
    public var result: String
    public var status: Int?
    public var request: String?
    public var source: String?
    public var detail: String?

    public init(index: UInt64, event e: AuditEvent) {
        self.index = index
        time = Self.timestamp(e.time)
        principal = e.principal
        project = e.project
        purpose = e.purpose
        action = e.action
        dataset = e.dataset
        key = e.key
        version = e.version
        bytes = e.bytes
        result = e.result
        status = e.status
        request = e.requestID
        source = e.source
        detail = e.detail
    }

    /// Keys in sorted order, absent fields omitted, strings escaped as RFC 8259 §7 requires
    /// (quote, backslash, control characters) and nothing else. Written by hand: this runs
    /// for every request, and Foundation's encoder costs several times more.
    public func canonicalJSON() -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(256)
        var first = true
        func field(_ k: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ k: StaticString, _ v: String?) {
            guard let v else { return }
            field(k)
            Self.quote(v, into: &out)
        }
        func number<N: BinaryInteger>(_ k: StaticString, _ v: N?) {
            guard let v else { return }
            field(k)
            out.append(contentsOf: String(v).utf8)
        }
        string("action", action)
        number("bytes", bytes)
        string("dataset", dataset)
        string("detail", detail)
        number("index", index)
        string("key", key)
        string("principal", principal)
        string("project", project)
        string("purpose", purpose)
        string("request", request)
        string("result", result)
        string("source", source)
        number("status", status)
        string("time", time)
        string("version", version)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func quote(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(b)
            case 0..<0x20:
                out.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)],
                ])
            default:
                out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The UTC day the entry belongs to: the unit of retention (one encryption key per period).
    var period: String { String(time.prefix(10)) }

    public static func decode(_ json: some Collection<UInt8>) throws -> AuditEntry {
        try JSONDecoder().decode(AuditEntry.self, from: Data(json))
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), formatted directly from the epoch: no formatter
    /// objects on the request path.
    static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var tm = tm()
        gmtime_r(&seconds, &tm)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let millis = Int32(((ms % 1000) + 1000) % 1000)
        return
            "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))"
            + "T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(millis, 3))Z"
    }

    public static func day(_ date: Date) -> String {
        String(timestamp(date).prefix(10))
    }
}
