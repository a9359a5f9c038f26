import Foundation

/// A bucket's lifecycle configuration (S3 PutBucketLifecycleConfiguration): rules that expire
/// objects, noncurrent versions and incomplete multipart uploads, selected by prefix, tags and
/// size. Parsed strictly, checked as S3 checks it, written back as S3 returns it, and
/// evaluated here (pure: time is an input); the sweeper that applies it does the I/O.
public struct LifecycleConfiguration: Sendable, Equatable, Codable {
    public var rules: [LifecycleRule]

    public init(rules: [LifecycleRule]) { self.rules = rules }

    public static let maxRules = 1000
}

public struct LifecycleRule: Sendable, Equatable, Codable {
    public var id: String
    public var enabled: Bool
    public var filter: LifecycleFilter
    /// Whether the rule was given a `<Filter>` (else the legacy rule-level `<Prefix>`).
    public var filterElement: Bool
    public var expiration: Expiration?
    public var noncurrentExpiration: NoncurrentExpiration?
    public var abortIncompleteUploadDays: Int?

    public init(
        id: String, enabled: Bool, filter: LifecycleFilter, filterElement: Bool, expiration: Expiration?,
        noncurrentExpiration: NoncurrentExpiration?, abortIncompleteUploadDays: Int?
    ) {
        self.id = id
        self.enabled = enabled
        self.filter = filter
        self.filterElement = filterElement
        self.expiration = expiration
        self.noncurrentExpiration = noncurrentExpiration
        self.abortIncompleteUploadDays = abortIncompleteUploadDays
    }

    public struct Expiration: Sendable, Equatable, Codable {
        public var days: Int?
        public var date: Date?
        public var expiredObjectDeleteMarker: Bool?

        public init(days: Int?, date: Date?, expiredObjectDeleteMarker: Bool?) {
            self.days = days
            self.date = date
            self.expiredObjectDeleteMarker = expiredObjectDeleteMarker
        }
    }

    public struct NoncurrentExpiration: Sendable, Equatable, Codable {
        public var noncurrentDays: Int?
        public var newerNoncurrentVersions: Int?

        public init(noncurrentDays: Int?, newerNoncurrentVersions: Int?) {
            self.noncurrentDays = noncurrentDays
            self.newerNoncurrentVersions = newerNoncurrentVersions
        }
    }
}

/// Which objects a rule applies to: every condition given must hold (`<And>` or a single one).
public struct LifecycleFilter: Sendable, Equatable, Codable {
    public var prefix: String = ""
    public var tags: [ObjectTag] = []
    public var sizeGreaterThan: Int64?
    public var sizeLessThan: Int64?

    public init(prefix: String = "", tags: [ObjectTag] = [], sizeGreaterThan: Int64? = nil, sizeLessThan: Int64? = nil) {
        self.prefix = prefix
        self.tags = tags
        self.sizeGreaterThan = sizeGreaterThan
        self.sizeLessThan = sizeLessThan
    }

    public func matches(key: String, size: Int64, tags objectTags: [ObjectTag]) -> Bool {
        key.hasPrefix(prefix) && tags.allSatisfy { objectTags.contains($0) }
            && (sizeGreaterThan.map { size > $0 } ?? true) && (sizeLessThan.map { size < $0 } ?? true)
    }
}

extension LifecycleConfiguration {
    static let dayLength: TimeInterval = 86_400

    /// When an object written at `lastModified` expires under `days`: S3 adds the days to the
    /// creation time and rounds up to the next midnight UTC.
    public static func expiry(of lastModified: Date, days: Int) -> Date {
        let t = lastModified.timeIntervalSince1970 + Double(days) * dayLength
        return Date(timeIntervalSince1970: (t / dayLength).rounded(.up) * dayLength)
    }

    /// The enabled rule that expires this (current) object at `now`, if any.
    public func expiringRule(key: String, size: Int64, tags: [ObjectTag], lastModified: Date, now: Date) -> LifecycleRule? {
        rules.first { rule in
            guard rule.enabled, let e = rule.expiration, rule.filter.matches(key: key, size: size, tags: tags) else { return false }
            if let days = e.days { return now >= Self.expiry(of: lastModified, days: days) }
            if let date = e.date { return now >= date }
            return false
        }
    }

    /// When this current object expires and by which rule (the earliest, if several apply), as
    /// S3 reports it in `x-amz-expiration`; nil when no rule expires it.
    public func expiration(key: String, size: Int64, tags: [ObjectTag], lastModified: Date) -> (date: Date, rule: String)? {
        rules.compactMap { rule -> (date: Date, rule: String)? in
            guard rule.enabled, let e = rule.expiration, rule.filter.matches(key: key, size: size, tags: tags) else { return nil }
            if let days = e.days { return (Self.expiry(of: lastModified, days: days), rule.id) }
            return e.date.map { ($0, rule.id) }
        }.min { $0.date < $1.date }
    }

    /// `x-amz-expiration` for this current object, nil when no rule expires it.
    public func expirationHeader(key: String, size: Int64, tags: [ObjectTag], lastModified: Date) -> String? {
        expiration(key: key, size: size, tags: tags, lastModified: lastModified).map {
            "expiry-date=\"\(HTTPDate.format($0.date))\", rule-id=\"\($0.rule)\""
        }
    }

    /// The enabled rule that aborts this incomplete upload at `now`, if any (such rules filter
    /// by prefix only).
    public func abortingRule(key: String, initiated: Date, now: Date) -> LifecycleRule? {
        rules.first { rule in
            guard rule.enabled, let days = rule.abortIncompleteUploadDays, key.hasPrefix(rule.filter.prefix) else { return false }
            return now >= Self.expiry(of: initiated, days: days)
        }
    }

    /// The enabled rule that expires this noncurrent version (or noncurrent delete marker) at
    /// `now`, if any: it became noncurrent at `noncurrentSince` (its successor's creation), and
    /// `newer` noncurrent versions of its key are newer than it. S3 keeps the
    /// `NewerNoncurrentVersions` newest and expires the others `NoncurrentDays` after they
    /// became noncurrent.
    public func noncurrentExpiringRule(
        key: String, size: Int64, tags: [ObjectTag], noncurrentSince: Date, newer: Int, now: Date
    ) -> LifecycleRule? {
        rules.first { rule in
            guard rule.enabled, let n = rule.noncurrentExpiration, let days = n.noncurrentDays,
                rule.filter.matches(key: key, size: size, tags: tags)
            else { return false }
            return newer >= (n.newerNoncurrentVersions ?? 0) && now >= Self.expiry(of: noncurrentSince, days: days)
        }
    }

    /// The enabled rule that removes an expired object delete marker of `key` (a latest marker
    /// with no version behind it), if any: `ExpiredObjectDeleteMarker`, or an expiration by
    /// days (S3 removes such markers then too).
    public func expiredMarkerRule(key: String) -> LifecycleRule? {
        rules.first { rule in
            guard rule.enabled, let e = rule.expiration, rule.filter.matches(key: key, size: 0, tags: []) else { return false }
            return e.expiredObjectDeleteMarker == true || e.days != nil
        }
    }

    /// Whether any enabled rule can act on objects or uploads (the sweeper skips the others).
    public var acts: Bool {
        rules.contains { $0.enabled && ($0.expiration?.days != nil || $0.expiration?.date != nil || $0.abortIncompleteUploadDays != nil) }
            || actsOnVersions
    }

    /// Whether any enabled rule acts on noncurrent versions or expired delete markers.
    public var actsOnVersions: Bool {
        rules.contains { $0.enabled && ($0.noncurrentExpiration?.noncurrentDays != nil || $0.expiration?.expiredObjectDeleteMarker == true) }
    }
}

// MARK: XML

extension LifecycleConfiguration {
    static func invalid(_ message: String) -> S3Error { S3Error(.invalidArgument, message) }
    static func invalidRequest(_ message: String) -> S3Error { S3Error(.invalidRequest, message) }

    public static func parse(_ body: [UInt8]) throws(S3Error) -> LifecycleConfiguration {
        let root = try XMLRequests.root(body, "LifecycleConfiguration")
        let ruleElements = root.all("Rule")
        guard !ruleElements.isEmpty, ruleElements.count <= maxRules else { throw XMLRequests.malformed }
        var rules: [LifecycleRule] = []
        var ids = Set<String>()
        for (n, r) in ruleElements.enumerated() {
            let rule = try parseRule(r, number: n)
            guard ids.insert(rule.id).inserted else { throw invalid("Rule ID must be unique. Found same ID for more than one rule") }
            rules.append(rule)
        }
        return LifecycleConfiguration(rules: rules)
    }

    static func integer(_ e: XMLElement?) throws(S3Error) -> Int? {
        guard let e else { return nil }
        guard let v = Int(e.text.trimmingSpaces()) else { throw XMLRequests.malformed }
        return v
    }

    static func parseRule(_ r: XMLElement, number: Int) throws(S3Error) -> LifecycleRule {
        let id = r.child("ID")?.text ?? "rule-\(number + 1)"
        guard id.count <= 255 else { throw invalid("ID length should not exceed allowed limit of 255") }
        let enabled: Bool
        switch r.child("Status")?.text.trimmingSpaces() {
        case "Enabled": enabled = true
        case "Disabled": enabled = false
        default: throw XMLRequests.malformed
        }
        if r.child("Transition") != nil || r.child("NoncurrentVersionTransition") != nil {
            throw invalidRequest("Transition actions are not supported: this gateway has one storage class (STANDARD).")
        }
        var filter = LifecycleFilter()
        let filterElement = r.child("Filter")
        switch (filterElement, r.child("Prefix")) {
        case (.some, .some): throw XMLRequests.malformed
        case (.some(let f), nil): filter = try parseFilter(f)
        case (nil, .some(let p)): filter.prefix = p.text
        case (nil, nil): break
        }

        var expiration: LifecycleRule.Expiration?
        if let e = r.child("Expiration") {
            let days = try integer(e.child("Days"))
            let date = try e.child("Date").map { d throws(S3Error) in
                guard let date = ISO8601Date.parse(d.text.trimmingSpaces()) else { throw invalid("Invalid date or time value") }
                return date
            }
            let marker: Bool? = try e.child("ExpiredObjectDeleteMarker").map { m throws(S3Error) in
                switch m.text.trimmingSpaces() {
                case "true": return true
                case "false": return false
                default: throw XMLRequests.malformed
                }
            }
            guard [days != nil, date != nil, marker != nil].filter({ $0 }).count == 1 else {
                throw XMLRequests.malformed
            }
            if let days, days <= 0 { throw invalid("'Days' for Expiration action must be a positive integer") }
            if let date, date.timeIntervalSince1970.truncatingRemainder(dividingBy: dayLength) != 0 {
                throw invalid("'Date' must be at midnight GMT")
            }
            if marker != nil && !filter.tags.isEmpty {
                throw invalid("ExpiredObjectDeleteMarker cannot be specified with tags.")
            }
            expiration = LifecycleRule.Expiration(days: days, date: date, expiredObjectDeleteMarker: marker)
        }
        var noncurrent: LifecycleRule.NoncurrentExpiration?
        if let e = r.child("NoncurrentVersionExpiration") {
            let days = try integer(e.child("NoncurrentDays"))
            let newer = try integer(e.child("NewerNoncurrentVersions"))
            guard days != nil || newer != nil else { throw XMLRequests.malformed }
            if let days, days <= 0 { throw invalid("'NoncurrentDays' in NoncurrentVersionExpiration action must be a positive integer") }
            if let newer, !(1...100).contains(newer) {
                throw invalid("'NewerNoncurrentVersions' in NoncurrentVersionExpiration action must be between 1 and 100")
            }
            noncurrent = LifecycleRule.NoncurrentExpiration(noncurrentDays: days, newerNoncurrentVersions: newer)
        }
        var abortDays: Int?
        if let a = r.child("AbortIncompleteMultipartUpload") {
            guard let days = try integer(a.child("DaysAfterInitiation")) else { throw XMLRequests.malformed }
            guard days > 0 else { throw invalid("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer") }
            if !filter.tags.isEmpty || filter.sizeGreaterThan != nil || filter.sizeLessThan != nil {
                throw invalid("AbortIncompleteMultipartUpload cannot be specified with tags or object size filters.")
            }
            abortDays = days
        }
        guard expiration != nil || noncurrent != nil || abortDays != nil else {
            throw invalid("At least one action needs to be specified in a rule")
        }
        return LifecycleRule(
            id: id, enabled: enabled, filter: filter, filterElement: filterElement != nil, expiration: expiration,
            noncurrentExpiration: noncurrent, abortIncompleteUploadDays: abortDays)
    }

    static func parseFilter(_ f: XMLElement) throws(S3Error) -> LifecycleFilter {
        var filter = LifecycleFilter()
        func tag(_ t: XMLElement) throws(S3Error) -> ObjectTag {
            guard let k = t.child("Key")?.text, let v = t.child("Value")?.text else { throw XMLRequests.malformed }
            return ObjectTag(k, v)
        }
        func size(_ e: XMLElement?) throws(S3Error) -> Int64? {
            guard let e else { return nil }
            guard let v = Int64(e.text.trimmingSpaces()), v >= 0 else { throw XMLRequests.malformed }
            return v
        }
        if let and = f.child("And") {
            guard f.children.count == 1 else { throw XMLRequests.malformed }
            filter.prefix = and.child("Prefix")?.text ?? ""
            for t in and.all("Tag") { filter.tags.append(try tag(t)) }
            filter.sizeGreaterThan = try size(and.child("ObjectSizeGreaterThan"))
            filter.sizeLessThan = try size(and.child("ObjectSizeLessThan"))
        } else {
            // Without <And>, one condition at most.
            guard f.children.count <= 1 else { throw XMLRequests.malformed }
            filter.prefix = f.child("Prefix")?.text ?? ""
            if let t = f.child("Tag") { filter.tags = [try tag(t)] }
            filter.sizeGreaterThan = try size(f.child("ObjectSizeGreaterThan"))
            filter.sizeLessThan = try size(f.child("ObjectSizeLessThan"))
        }
        try Tagging.validate(filter.tags, limit: Tagging.maxBucketTags)
        if let gt = filter.sizeGreaterThan, let lt = filter.sizeLessThan, gt >= lt {
            throw invalidRequest("ObjectSizeGreaterThan must be less than ObjectSizeLessThan in a rule's filter.")
        }
        return filter
    }

    public var xml: String {
        var w = XMLWriter()
        w.open("LifecycleConfiguration")
        for r in rules {
            w.group("Rule") { w in
                w.element("ID", r.id)
                if r.filterElement {
                    w.group("Filter") { w in Self.write(r.filter, &w) }
                } else {
                    w.element("Prefix", r.filter.prefix)
                }
                w.element("Status", r.enabled ? "Enabled" : "Disabled")
                if let e = r.expiration {
                    w.group("Expiration") { w in
                        if let d = e.days { w.element("Days", d) }
                        if let d = e.date { w.element("Date", HTTPDate.iso8601(d)) }
                        if let m = e.expiredObjectDeleteMarker { w.element("ExpiredObjectDeleteMarker", m) }
                    }
                }
                if let n = r.noncurrentExpiration {
                    w.group("NoncurrentVersionExpiration") { w in
                        if let d = n.noncurrentDays { w.element("NoncurrentDays", d) }
                        if let v = n.newerNoncurrentVersions { w.element("NewerNoncurrentVersions", v) }
                    }
                }
                if let d = r.abortIncompleteUploadDays {
                    w.group("AbortIncompleteMultipartUpload") { w in w.element("DaysAfterInitiation", d) }
                }
            }
        }
        w.close("LifecycleConfiguration")
        return w.result
    }

    static func write(_ f: LifecycleFilter, _ w: inout XMLWriter) {
        func tag(_ t: ObjectTag, _ w: inout XMLWriter) {
            w.group("Tag") { w in
                w.element("Key", t.key)
                w.element("Value", t.value)
            }
        }
        let conditions = (f.prefix.isEmpty ? 0 : 1) + f.tags.count + (f.sizeGreaterThan == nil ? 0 : 1) + (f.sizeLessThan == nil ? 0 : 1)
        func body(_ w: inout XMLWriter) {
            if !f.prefix.isEmpty || conditions == 0 { w.element("Prefix", f.prefix) }
            for t in f.tags { tag(t, &w) }
            if let gt = f.sizeGreaterThan { w.element("ObjectSizeGreaterThan", gt) }
            if let lt = f.sizeLessThan { w.element("ObjectSizeLessThan", lt) }
        }
        if conditions > 1 {
            w.group("And") { w in body(&w) }
        } else {
            body(&w)
        }
    }
}

/// ISO 8601 date-times as S3 XML documents carry them: `2026-01-01T00:00:00Z`, with optional
/// fractional seconds, `Z` or a `±hh:mm` offset; a bare `2026-01-01` is midnight UTC.
public enum ISO8601Date {
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for c in b[from..<(from + count)] {
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let y = num(0, 4), b.count >= 10, b[4] == UInt8(ascii: "-"), let mo = num(5, 2), b[7] == UInt8(ascii: "-"),
            let d = num(8, 2), (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        let day = Double(HTTPDate.daysFromCivil(y, mo, d)) * 86_400
        guard b.count > 10 else { return Date(timeIntervalSince1970: day) }
        guard b.count >= 19, b[10] == UInt8(ascii: "T"), let h = num(11, 2), b[13] == UInt8(ascii: ":"), let mi = num(14, 2),
            b[16] == UInt8(ascii: ":"), let s = num(17, 2), h < 24, mi < 60, s < 61
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        if i < b.count, b[i] == UInt8(ascii: "Z") {
            i += 1
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let om = num(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        return Date(timeIntervalSince1970: day + Double(h * 3600 + mi * 60 + s - offset) + fraction)
    }
}
