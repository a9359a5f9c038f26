/// Which S3 API operation a request is, from method, bucket, key and query (pure).
public enum S3Operation: String, Sendable, CaseIterable {
    case listBuckets = "ListBuckets"
    case createBucket = "CreateBucket"
    case headBucket = "HeadBucket"
    case deleteBucket = "DeleteBucket"
    case getBucketLocation = "GetBucketLocation"
    case getBucketVersioning = "GetBucketVersioning"
    case putBucketVersioning = "PutBucketVersioning"
    case getBucketAcl = "GetBucketAcl"
    case putBucketAcl = "PutBucketAcl"
    case listObjectVersions = "ListObjectVersions"
    case getBucketTagging = "GetBucketTagging"
    case putBucketTagging = "PutBucketTagging"
    case deleteBucketTagging = "DeleteBucketTagging"
    case getBucketLifecycleConfiguration = "GetBucketLifecycleConfiguration"
    case putBucketLifecycleConfiguration = "PutBucketLifecycleConfiguration"
    case deleteBucketLifecycle = "DeleteBucketLifecycle"
    case listObjects = "ListObjects"
    case listObjectsV2 = "ListObjectsV2"
    case listMultipartUploads = "ListMultipartUploads"
    case deleteObjects = "DeleteObjects"
    case putObject = "PutObject"
    case copyObject = "CopyObject"
    case getObject = "GetObject"
    case headObject = "HeadObject"
    case deleteObject = "DeleteObject"
    case createMultipartUpload = "CreateMultipartUpload"
    case uploadPart = "UploadPart"
    case uploadPartCopy = "UploadPartCopy"
    case completeMultipartUpload = "CompleteMultipartUpload"
    case abortMultipartUpload = "AbortMultipartUpload"
    case listParts = "ListParts"
    case getObjectAcl = "GetObjectAcl"
    case putObjectAcl = "PutObjectAcl"
    case getObjectTagging = "GetObjectTagging"
    case putObjectTagging = "PutObjectTagging"
    case deleteObjectTagging = "DeleteObjectTagging"
    case getObjectLockConfiguration = "GetObjectLockConfiguration"
    case putObjectLockConfiguration = "PutObjectLockConfiguration"
    case getObjectRetention = "GetObjectRetention"
    case putObjectRetention = "PutObjectRetention"
    case getObjectLegalHold = "GetObjectLegalHold"
    case putObjectLegalHold = "PutObjectLegalHold"

    /// Sub-resources we do not implement; S3 answers them, so we say NotImplemented rather
    /// than mistake them for a plain object or bucket request.
    static let unsupportedSubresources: Set<String> = [
        "policy", "cors", "website", "logging", "notification", "replication",
        "encryption", "accelerate", "requestPayment", "analytics",
        "inventory", "metrics", "intelligent-tiering", "ownershipControls", "publicAccessBlock", "policyStatus",
        "restore", "select", "torrent", "attributes", "renameObject",
    ]

    public static func classify(
        method: String, bucket: String?, key: String?, query: [(String, String)], headers: (String) -> String?
    ) throws(S3Error) -> S3Operation {
        let names = Set(query.map(\.0))
        if let unsupported = names.first(where: { unsupportedSubresources.contains($0) }),
            !(unsupported == "versioning")
        {
            throw S3Error(.notImplemented, "The '\(unsupported)' sub-resource is not implemented.")
        }
        guard let bucket, !bucket.isEmpty else {
            guard method == "GET" else { throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.") }
            return .listBuckets
        }
        _ = bucket
        guard let key, !key.isEmpty else {
            if names.contains("retention") || names.contains("legal-hold") {
                throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
            }
            switch method {
            case "PUT":
                if names.contains("object-lock") { return .putObjectLockConfiguration }
                if names.contains("versioning") { return .putBucketVersioning }
                if names.contains("acl") { return .putBucketAcl }
                if names.contains("tagging") { return .putBucketTagging }
                if names.contains("lifecycle") { return .putBucketLifecycleConfiguration }
                return .createBucket
            case "HEAD": return .headBucket
            case "DELETE":
                if names.contains("tagging") { return .deleteBucketTagging }
                return names.contains("lifecycle") ? .deleteBucketLifecycle : .deleteBucket
            case "POST":
                if names.contains("delete") { return .deleteObjects }
                throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
            case "GET":
                if names.contains("location") { return .getBucketLocation }
                if names.contains("object-lock") { return .getObjectLockConfiguration }
                if names.contains("versioning") { return .getBucketVersioning }
                if names.contains("versions") { return .listObjectVersions }
                if names.contains("acl") { return .getBucketAcl }
                if names.contains("tagging") { return .getBucketTagging }
                if names.contains("lifecycle") { return .getBucketLifecycleConfiguration }
                if names.contains("uploads") { return .listMultipartUploads }
                if query.contains(where: { $0.0 == "list-type" && $0.1 == "2" }) { return .listObjectsV2 }
                return .listObjects
            default:
                throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
            }
        }
        if names.contains("object-lock") || (names.contains("retention") || names.contains("legal-hold")) && method != "GET" && method != "PUT" {
            throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
        }
        switch method {
        case "PUT":
            if names.contains("retention") { return .putObjectRetention }
            if names.contains("legal-hold") { return .putObjectLegalHold }
            if names.contains("acl") { return .putObjectAcl }
            if names.contains("tagging") { return .putObjectTagging }
            if names.contains("partNumber") || names.contains("uploadId") {
                return headers("x-amz-copy-source") != nil ? .uploadPartCopy : .uploadPart
            }
            return headers("x-amz-copy-source") != nil ? .copyObject : .putObject
        case "GET":
            if names.contains("retention") { return .getObjectRetention }
            if names.contains("legal-hold") { return .getObjectLegalHold }
            if names.contains("acl") { return .getObjectAcl }
            if names.contains("tagging") { return .getObjectTagging }
            return names.contains("uploadId") ? .listParts : .getObject
        case "HEAD": return .headObject
        case "DELETE":
            if names.contains("tagging") { return .deleteObjectTagging }
            return names.contains("uploadId") ? .abortMultipartUpload : .deleteObject
        case "POST":
            if names.contains("uploads") { return .createMultipartUpload }
            if names.contains("uploadId") { return .completeMultipartUpload }
            throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
        default:
            throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
        }
    }
}
