/// Access control lists. Access is governed by projects and grants, so, as on an S3 bucket
/// whose object ownership is `BucketOwnerEnforced` (the AWS default), the only ACL is the
/// owner's full control: the canned `private` and `bucket-owner-full-control` ACLs, or a
/// policy granting the owner FULL_CONTROL, are accepted; anything granting more is refused
/// with AccessControlListNotSupported, and nothing changes.
public enum ACL {
    public static let ownerCanned: Set<String> = ["private", "bucket-owner-full-control"]
    public static let grantHeaders = [
        "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control",
    ]

    static let notSupported = S3Error(.accessControlListNotSupported, "The bucket does not allow ACLs")
    static let malformed = S3Error(
        .malformedACLError, "The XML you provided was not well-formed or did not validate against our published schema")

    /// The ACL headers of a request (`x-amz-acl`, `x-amz-grant-*`): whether it gives any, once
    /// it is known to grant nothing beyond the owner's full control.
    @discardableResult
    public static func checkHeaders(_ header: (String) -> String?) throws(S3Error) -> Bool {
        if grantHeaders.contains(where: { header($0) != nil }) { throw notSupported }
        guard let canned = header("x-amz-acl") else { return false }
        guard ownerCanned.contains(canned.trimmingSpaces()) else { throw notSupported }
        return true
    }

    /// A PutObjectAcl/PutBucketAcl body: an AccessControlPolicy whose every grant is FULL_CONTROL
    /// to `owner`.
    public static func checkPolicy(_ body: [UInt8], owner: String) throws(S3Error) {
        let root: XMLElement
        do {
            root = try XMLTree.parse(body)
        } catch {
            throw malformed
        }
        guard root.localName == "AccessControlPolicy", let list = root.child("AccessControlList") else { throw malformed }
        for grant in list.all("Grant") {
            guard let grantee = grant.child("Grantee"), let permission = grant.child("Permission")?.text.trimmingSpaces() else {
                throw malformed
            }
            let byID = grantee.child("ID")?.text.trimmingSpaces()
            guard byID == owner, grantee.child("URI") == nil, grantee.child("EmailAddress") == nil, permission == "FULL_CONTROL" else {
                throw notSupported
            }
        }
    }

    /// The ACL every bucket and object has: the owner's full control.
    public static func policy(owner: String) -> String {
        var w = XMLWriter()
        w.open("AccessControlPolicy")
        w.group("Owner") { w in
            w.element("ID", owner)
            w.element("DisplayName", owner)
        }
        w.group("AccessControlList") { w in
            w.group("Grant") { w in
                w.group("Grantee", attributes: [("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"), ("xsi:type", "CanonicalUser")]) {
                    w in
                    w.element("ID", owner)
                    w.element("DisplayName", owner)
                }
                w.element("Permission", "FULL_CONTROL")
            }
        }
        w.close("AccessControlPolicy")
        return w.result
    }
}
