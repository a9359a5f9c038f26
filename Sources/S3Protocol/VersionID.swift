/// A request's `versionId` (query parameter, copy source, DeleteObjects entry, list marker).
///
/// Every object here has one version, its `null` version (S3's name for the version of an
/// object in a bucket that was never versioned): `null` names it, and any other id is not an
/// id this gateway issues, which S3 answers with InvalidArgument.
public enum VersionID {
    public static let null = "null"

    /// nil when no version is named; `null` when the null version is.
    public static func parse(_ raw: String?, argument: String = "versionId") throws(S3Error) -> String? {
        guard let raw else { return nil }
        guard !raw.isEmpty else {
            throw S3Error(.invalidArgument, "Version id cannot be the empty string", details: [("ArgumentName", argument), ("ArgumentValue", "")])
        }
        guard raw == null else {
            throw S3Error(.invalidArgument, "Invalid version id specified", details: [("ArgumentName", argument), ("ArgumentValue", raw)])
        }
        return null
    }
}
