import Foundation

/// Conditional request headers and their outcome, per RFC 9110 §13.2.2 as S3 applies them
/// (S3 GetObject: If-Match true + If-Unmodified-Since false → 200; If-None-Match false +
/// If-Modified-Since true → 304).
public struct Preconditions: Sendable, Equatable {
    public var ifMatch: String?
    public var ifNoneMatch: String?
    public var ifModifiedSince: Date?
    public var ifUnmodifiedSince: Date?

    public init(ifMatch: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: Date? = nil, ifUnmodifiedSince: Date? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifUnmodifiedSince = ifUnmodifiedSince
    }

    public var isEmpty: Bool { ifMatch == nil && ifNoneMatch == nil && ifModifiedSince == nil && ifUnmodifiedSince == nil }

    public enum Outcome: Sendable, Equatable {
        case proceed
        case notModified
        case preconditionFailed
    }

    /// For reads (GET/HEAD, and copy sources). `etag` is quoted; `lastModified` has second precision.
    public func evaluate(etag: String, lastModified: Date) -> Outcome {
        let lm = lastModified.timeIntervalSince1970.rounded(.down)
        if let m = ifMatch {
            guard Self.matches(m, etag) else { return .preconditionFailed }
        } else if let d = ifUnmodifiedSince, lm > d.timeIntervalSince1970 {
            return .preconditionFailed
        }
        if let n = ifNoneMatch {
            if Self.matches(n, etag) { return .notModified }
        } else if let d = ifModifiedSince, lm <= d.timeIntervalSince1970 {
            return .notModified
        }
        return .proceed
    }

    /// Conditional writes (PutObject, CompleteMultipartUpload): `If-None-Match: *` requires
    /// absence, `If-Match` requires the current ETag. `current` is nil when no object exists.
    public func evaluateWrite(currentETag current: String?) throws(S3Error) {
        if let n = ifNoneMatch {
            guard n.trimmingSpaces() == "*" else {
                throw S3Error(.notImplemented, "If-None-Match on writes supports only '*'.")
            }
            if current != nil {
                throw S3Error(
                    .preconditionFailed, "At least one of the pre-conditions you specified did not hold", details: [("Condition", "If-None-Match")])
            }
        }
        if let m = ifMatch {
            guard let current else {
                throw S3Error(.noSuchKey, "The specified key does not exist.")
            }
            guard Self.matches(m, current) else {
                throw S3Error(
                    .preconditionFailed, "At least one of the pre-conditions you specified did not hold", details: [("Condition", "If-Match")])
            }
        }
    }

    /// Matches a list of entity tags (`"a", "b"`, `*`, weak tags compared weakly) against `etag`.
    static func matches(_ header: String, _ etag: String) -> Bool {
        let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        for raw in header.split(separator: ",") {
            var t = raw.trimmingSpaces()
            if t == "*" { return true }
            if t.hasPrefix("W/") { t.removeFirst(2) }
            if t.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == bare { return true }
        }
        return false
    }
}
