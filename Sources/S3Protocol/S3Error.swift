/// An error as S3 reports it: a stable code string, an HTTP status and a message.
///
/// Codes and statuses follow the AWS S3 API reference, "Error responses" — `List of error codes`.
/// Backend and internal errors are mapped into one of these once, at the edge (STYLE.md §2).
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable {
        public let string: String
        public let status: Int

        init(_ string: String, _ status: Int) {
            self.string = string
            self.status = status
        }

        public static let accessDenied = Code("AccessDenied", 403)
        public static let badDigest = Code("BadDigest", 400)
        public static let bucketAlreadyOwnedByYou = Code("BucketAlreadyOwnedByYou", 409)
        public static let bucketNotEmpty = Code("BucketNotEmpty", 409)
        public static let entityTooSmall = Code("EntityTooSmall", 400)
        public static let entityTooLarge = Code("EntityTooLarge", 400)
        public static let incompleteBody = Code("IncompleteBody", 400)
        public static let internalError = Code("InternalError", 500)
        public static let invalidAccessKeyId = Code("InvalidAccessKeyId", 403)
        public static let invalidArgument = Code("InvalidArgument", 400)
        public static let invalidBucketName = Code("InvalidBucketName", 400)
        public static let invalidDigest = Code("InvalidDigest", 400)
        public static let invalidPart = Code("InvalidPart", 400)
        public static let invalidPartNumber = Code("InvalidPartNumber", 416)
        public static let invalidPartOrder = Code("InvalidPartOrder", 400)
        public static let invalidRange = Code("InvalidRange", 416)
        public static let invalidBucketState = Code("InvalidBucketState", 409)
        public static let objectLockConfigurationNotFound = Code("ObjectLockConfigurationNotFoundError", 404)
        public static let noSuchObjectLockConfiguration = Code("NoSuchObjectLockConfiguration", 404)
        public static let invalidRequest = Code("InvalidRequest", 400)
        public static let keyTooLong = Code("KeyTooLongError", 400)
        public static let malformedXML = Code("MalformedXML", 400)
        public static let malformedACLError = Code("MalformedACLError", 400)
        public static let badRequest = Code("BadRequest", 400)
        public static let invalidTag = Code("InvalidTag", 400)
        public static let noSuchTagSet = Code("NoSuchTagSet", 404)
        public static let operationAborted = Code("OperationAborted", 409)
        public static let noSuchLifecycleConfiguration = Code("NoSuchLifecycleConfiguration", 404)
        public static let methodNotAllowed = Code("MethodNotAllowed", 405)
        public static let missingContentLength = Code("MissingContentLength", 411)
        public static let missingSecurityHeader = Code("MissingSecurityHeader", 400)
        public static let noSuchBucket = Code("NoSuchBucket", 404)
        public static let noSuchKey = Code("NoSuchKey", 404)
        public static let noSuchUpload = Code("NoSuchUpload", 404)
        public static let noSuchVersion = Code("NoSuchVersion", 404)
        public static let accessControlListNotSupported = Code("AccessControlListNotSupported", 400)
        public static let notImplemented = Code("NotImplemented", 501)
        public static let notModified = Code("NotModified", 304)
        public static let preconditionFailed = Code("PreconditionFailed", 412)
        public static let conditionalRequestConflict = Code("ConditionalRequestConflict", 409)
        public static let requestTimeTooSkewed = Code("RequestTimeTooSkewed", 403)
        public static let signatureDoesNotMatch = Code("SignatureDoesNotMatch", 403)
        public static let authorizationHeaderMalformed = Code("AuthorizationHeaderMalformed", 400)
        public static let authorizationQueryParametersError = Code("AuthorizationQueryParametersError", 400)
        public static let xAmzContentSHA256Mismatch = Code("XAmzContentSHA256Mismatch", 400)
        public static let invalidEncryptionAlgorithm = Code("InvalidEncryptionAlgorithmError", 400)
        public static let serviceUnavailable = Code("ServiceUnavailable", 503)
        public static let slowDown = Code("SlowDown", 503)
        public static let invalidObjectState = Code("InvalidObjectState", 403)
        public static let maxMessageLengthExceeded = Code("MaxMessageLengthExceeded", 400)
        public static let requestTimeout = Code("RequestTimeout", 400)
        public static let invalidToken = Code("InvalidToken", 400)
        public static let expiredToken = Code("ExpiredToken", 400)
    }

    public var code: Code
    public var message: String
    /// Extra elements S3 adds to some errors (e.g. `BucketName`, `Key`, `UploadId`).
    public var details: [(String, String)]
    /// Response headers S3 sends with some errors (`x-amz-delete-marker`, `x-amz-version-id`).
    public var headers: [(String, String)]

    public init(_ code: Code, _ message: String, details: [(String, String)] = [], headers: [(String, String)] = []) {
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public var description: String { "\(code.string): \(message)" }

    public static func == (lhs: S3Error, rhs: S3Error) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    /// `<Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId></Error>`
    public func xml(resource: String, requestID: String) -> String {
        var w = XMLWriter()
        w.open("Error", namespace: false)
        w.element("Code", code.string)
        w.element("Message", message)
        for (name, value) in details { w.element(name, value) }
        w.element("Resource", resource)
        w.element("RequestId", requestID)
        w.close("Error")
        return w.result
    }
}

/// The errors S3 answers with the same words everywhere (AWS S3 API reference, "Error
/// responses"), made in one place.
extension S3Error {
    public static func noSuchKey(key: String) -> S3Error {
        S3Error(.noSuchKey, "The specified key does not exist.", details: [("Key", key)])
    }

    public static func noSuchBucket() -> S3Error {
        S3Error(.noSuchBucket, "The specified bucket does not exist")
    }

    public static func noSuchUpload() -> S3Error {
        S3Error(.noSuchUpload, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
    }

    public static func bucketAlreadyOwnedByYou() -> S3Error {
        S3Error(.bucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
    }

    public static func internalError() -> S3Error {
        S3Error(.internalError, "We encountered an internal error. Please try again.")
    }

    public static func accessDenied() -> S3Error {
        S3Error(.accessDenied, "Access Denied")
    }

    /// `condition`: the header that did not hold (`If-Match`, `x-amz-copy-source-If-*`).
    public static func preconditionFailed(condition: String) -> S3Error {
        S3Error(.preconditionFailed, "At least one of the pre-conditions you specified did not hold", details: [("Condition", condition)])
    }

    public static func malformedXML() -> S3Error {
        S3Error(.malformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
    }
}
