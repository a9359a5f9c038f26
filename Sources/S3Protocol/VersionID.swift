/// A version of an object as S3 names it (`versionId` query parameter, copy source,
/// DeleteObjects entry, list marker, `x-amz-version-id`).
///
/// An object written while its bucket was never versioned, or while versioning was suspended,
/// is its key's `null` version. Any other version has an opaque id, which here encodes the
/// catalog's version number of that write (increasing per key, never reused): 16 lowercase
/// hexadecimal digits. Anything else is not an id this gateway issued, which S3 answers with
/// InvalidArgument.
public enum VersionID: Sendable, Hashable, CustomStringConvertible {
    case null
    case id(Int64)

    public static let nullString = "null"

    /// The id of the catalog's version `version` of a write: `null` unless it was versioned.
    public init(version: Int64, versioned: Bool) {
        self = versioned ? .id(version) : .null
    }

    public var description: String {
        switch self {
        case .null: return Self.nullString
        case .id(let v):
            let hex = String(UInt64(bitPattern: v), radix: 16)
            return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
        }
    }

    /// nil when no version is named.
    public static func parse(_ raw: String?, argument: String = "versionId") throws(S3Error) -> VersionID? {
        guard let raw else { return nil }
        guard !raw.isEmpty else {
            throw S3Error(.invalidArgument, "Version id cannot be the empty string", details: [("ArgumentName", argument), ("ArgumentValue", "")])
        }
        if raw == nullString { return .null }
        guard raw.utf8.count == 16, raw.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }),
            let bits = UInt64(raw, radix: 16), bits > 0, bits <= UInt64(Int64.max)
        else {
            throw S3Error(.invalidArgument, "Invalid version id specified", details: [("ArgumentName", argument), ("ArgumentValue", raw)])
        }
        return .id(Int64(bits))
    }
}

/// A bucket's versioning state (S3 PutBucketVersioning): never configured (nil), `Enabled`,
/// or `Suspended` (new writes are the `null` version again; existing versions stay).
public enum VersioningState: String, Sendable, Codable, CaseIterable {
    case enabled = "Enabled"
    case suspended = "Suspended"

    /// A `VersioningConfiguration` document: `Status` Enabled or Suspended; MFA delete is
    /// refused (sign-in here is by TOTP at the gateway, not by an MFA header per request).
    public static func parse(_ body: [UInt8]) throws(S3Error) -> VersioningState? {
        let doc: XMLElement
        do { doc = try XMLTree.parse(body) } catch { throw S3Error.malformedXML() }
        guard doc.localName == "VersioningConfiguration",
            doc.children.allSatisfy({ $0.localName == "Status" || $0.localName == "MfaDelete" })
        else { throw S3Error.malformedXML() }
        if let mfa = doc.child("MfaDelete")?.text {
            guard mfa == "Disabled" else {
                if mfa == "Enabled" {
                    throw S3Error(.invalidRequest, "MFA delete is not supported: sign-in to this gateway is two-factor already (TOTP).")
                }
                throw S3Error.malformedXML()
            }
        }
        guard let status = doc.child("Status")?.text else { return nil }
        guard let state = VersioningState(rawValue: status) else { throw S3Error.malformedXML() }
        return state
    }
}
