import Foundation

/// S3 Object Lock (pure): a version's retention (GOVERNANCE or COMPLIANCE until a date) and
/// legal hold, a bucket's default retention, their XML documents and request headers, and the
/// rules that decide whether a version may be deleted or its retention changed.
public enum RetentionMode: String, Sendable, Codable, Equatable {
    case governance = "GOVERNANCE"
    case compliance = "COMPLIANCE"
}

public struct Retention: Sendable, Codable, Equatable {
    public var mode: RetentionMode
    public var until: Date

    public init(mode: RetentionMode, until: Date) {
        self.mode = mode
        self.until = until
    }
}

/// What protects one version: its retention (nil: none) and its legal hold (nil: never set,
/// which GetObjectLegalHold answers as S3 does, NoSuchObjectLockConfiguration).
public struct ObjectLockState: Sendable, Codable, Equatable {
    public var retention: Retention?
    public var legalHold: Bool?

    public init(retention: Retention? = nil, legalHold: Bool? = nil) {
        self.retention = retention
        self.legalHold = legalHold
    }

    public var isEmpty: Bool { retention == nil && legalHold == nil }

    /// Why the version cannot be deleted (or its retention shortened) at `now`, nil if it can:
    /// a legal hold protects it from everyone; COMPLIANCE until its date from everyone, root
    /// included; GOVERNANCE unless the request bypasses governance and has the right to.
    public func refusal(now: Date, bypassGovernance: Bool) -> String? {
        if legalHold == true { return "the object version is under legal hold" }
        guard let r = retention, r.until > now else { return nil }
        switch r.mode {
        case .compliance: return "the object version is locked in COMPLIANCE mode until \(HTTPDate.iso8601(r.until))"
        case .governance:
            return bypassGovernance ? nil : "the object version is locked in GOVERNANCE mode until \(HTTPDate.iso8601(r.until))"
        }
    }

    /// Checks a change of retention to `new` (nil: removal) at `now`: COMPLIANCE is never
    /// shortened, removed or weakened to GOVERNANCE while it runs; an active GOVERNANCE
    /// retention is shortened or removed only with the bypass.
    public func checkRetentionChange(to new: Retention?, now: Date, bypassGovernance: Bool) throws(S3Error) {
        guard let old = retention, old.until > now else { return }
        let weaker = new.map { $0.until < old.until || ($0.mode == .governance && old.mode == .compliance) } ?? true
        guard weaker else { return }
        if old.mode == .compliance || !bypassGovernance { throw ObjectLock.accessDenied() }
    }
}

/// A bucket's Object Lock configuration: enabled (it cannot be turned off), with an optional
/// default retention for new versions.
public struct ObjectLockConfiguration: Sendable, Codable, Equatable {
    public struct DefaultRetention: Sendable, Codable, Equatable {
        public var mode: RetentionMode
        public var days: Int?
        public var years: Int?

        public init(mode: RetentionMode, days: Int? = nil, years: Int? = nil) {
            self.mode = mode
            self.days = days
            self.years = years
        }
    }

    public var defaultRetention: DefaultRetention?

    public init(defaultRetention: DefaultRetention? = nil) { self.defaultRetention = defaultRetention }

    /// The retention a new version gets at `now` when its request names none.
    public func defaultRetention(at now: Date) -> Retention? {
        guard let d = defaultRetention else { return nil }
        let days = d.days ?? (d.years ?? 0) * 365
        return Retention(mode: d.mode, until: now.addingTimeInterval(Double(days) * 86_400))
    }

    public var xml: String {
        var w = XMLWriter()
        w.open("ObjectLockConfiguration")
        w.element("ObjectLockEnabled", "Enabled")
        if let d = defaultRetention {
            w.group("Rule") { w in
                w.group("DefaultRetention") { w in
                    w.element("Mode", d.mode.rawValue)
                    if let days = d.days { w.element("Days", days) }
                    if let years = d.years { w.element("Years", years) }
                }
            }
        }
        w.close("ObjectLockConfiguration")
        return w.result
    }

    public static func parse(_ body: [UInt8]) throws(S3Error) -> ObjectLockConfiguration {
        let doc = try ObjectLock.document(body, "ObjectLockConfiguration", allowed: ["ObjectLockEnabled", "Rule"])
        guard doc.child("ObjectLockEnabled")?.text == "Enabled" else { throw S3Error.malformedXML() }
        guard let rule = doc.child("Rule") else { return ObjectLockConfiguration() }
        guard rule.children.count == 1, let d = rule.child("DefaultRetention"),
            d.children.allSatisfy({ ["Mode", "Days", "Years"].contains($0.localName) })
        else { throw S3Error.malformedXML() }
        guard let mode = d.child("Mode").flatMap({ RetentionMode(rawValue: $0.text) }) else { throw S3Error.malformedXML() }
        let days = try d.child("Days").map { e throws(S3Error) in try ObjectLock.positive(e.text, "Days") }
        let years = try d.child("Years").map { e throws(S3Error) in try ObjectLock.positive(e.text, "Years") }
        guard (days == nil) != (years == nil) else { throw S3Error.malformedXML() }
        if let days, days > 36_500 { throw S3Error(.invalidArgument, "Default retention period is too large.") }
        if let years, years > 100 { throw S3Error(.invalidArgument, "Default retention period is too large.") }
        return ObjectLockConfiguration(defaultRetention: DefaultRetention(mode: mode, days: days, years: years))
    }
}

public enum ObjectLock {
    public static func accessDenied() -> S3Error {
        S3Error(.accessDenied, "Access Denied because object protected by object lock.")
    }

    /// A version without the retention (or legal hold) asked for.
    public static func noObjectConfiguration() -> S3Error {
        S3Error(.noSuchObjectLockConfiguration, "The specified object does not have a ObjectLock configuration")
    }

    public static func missingConfiguration() -> S3Error {
        S3Error(.invalidRequest, "Bucket is missing Object Lock Configuration")
    }

    static func document(_ body: [UInt8], _ name: String, allowed: Set<String>) throws(S3Error) -> XMLElement {
        let doc: XMLElement
        do { doc = try XMLTree.parse(body) } catch { throw S3Error.malformedXML() }
        guard doc.localName == name, doc.children.allSatisfy({ allowed.contains($0.localName) }) else { throw S3Error.malformedXML() }
        return doc
    }

    static func positive(_ text: String, _ name: String) throws(S3Error) -> Int {
        guard let n = Int(text), n > 0 else {
            throw S3Error(.invalidArgument, "Default retention period must be a positive integer value.", details: [("ArgumentName", name)])
        }
        return n
    }

    /// A `Retention` document: mode and date, or neither (an empty document removes it).
    public static func parseRetention(_ body: [UInt8], now: Date) throws(S3Error) -> Retention? {
        let doc = try document(body, "Retention", allowed: ["Mode", "RetainUntilDate"])
        switch (doc.child("Mode")?.text, doc.child("RetainUntilDate")?.text) {
        case (nil, nil): return nil
        case (let m?, let d?): return try retention(mode: m, until: d, now: now)
        default: throw S3Error.malformedXML()
        }
    }

    /// A `LegalHold` document: `ON` or `OFF`.
    public static func parseLegalHold(_ body: [UInt8]) throws(S3Error) -> Bool {
        let doc = try document(body, "LegalHold", allowed: ["Status"])
        return try legalHold(doc.child("Status")?.text ?? "")
    }

    static func legalHold(_ text: String) throws(S3Error) -> Bool {
        switch text {
        case "ON": return true
        case "OFF": return false
        default: throw S3Error.malformedXML()
        }
    }

    static func retention(mode m: String, until d: String, now: Date) throws(S3Error) -> Retention {
        guard let mode = RetentionMode(rawValue: m) else {
            throw S3Error(.invalidArgument, "Unknown wormMode directive.", details: [("ArgumentName", "x-amz-object-lock-mode")])
        }
        guard let until = ISO8601Date.parse(d) else {
            throw S3Error(
                .invalidArgument, "The retain until date must be provided in ISO 8601 format",
                details: [("ArgumentName", "x-amz-object-lock-retain-until-date")])
        }
        guard until > now else { throw S3Error(.invalidArgument, "The retain until date must be in the future!") }
        return Retention(mode: mode, until: until)
    }

    /// The lock a write's headers ask for (`x-amz-object-lock-mode` with
    /// `x-amz-object-lock-retain-until-date`, `x-amz-object-lock-legal-hold`); nil when none.
    public static func requested(_ header: (String) -> String?, now: Date) throws(S3Error) -> ObjectLockState? {
        let mode = header("x-amz-object-lock-mode"), until = header("x-amz-object-lock-retain-until-date")
        let hold = header("x-amz-object-lock-legal-hold")
        guard mode != nil || until != nil || hold != nil else { return nil }
        var state = ObjectLockState()
        switch (mode, until) {
        case (nil, nil): break
        case (let m?, let d?): state.retention = try retention(mode: m, until: d, now: now)
        default:
            throw S3Error(
                .invalidArgument, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                details: [("ArgumentName", "x-amz-object-lock-mode")])
        }
        if let hold {
            guard hold == "ON" || hold == "OFF" else {
                throw S3Error(
                    .invalidArgument, "Legal Hold must be either of 'ON' or 'OFF'", details: [("ArgumentName", "x-amz-object-lock-legal-hold")])
            }
            state.legalHold = hold == "ON"
        }
        return state
    }

    public static func retentionXML(_ r: Retention?) -> String {
        var w = XMLWriter()
        w.open("Retention")
        if let r {
            w.element("Mode", r.mode.rawValue)
            w.element("RetainUntilDate", HTTPDate.iso8601(r.until))
        }
        w.close("Retention")
        return w.result
    }

    public static func legalHoldXML(_ on: Bool) -> String {
        var w = XMLWriter()
        w.open("LegalHold")
        w.element("Status", on ? "ON" : "OFF")
        w.close("LegalHold")
        return w.result
    }
}
