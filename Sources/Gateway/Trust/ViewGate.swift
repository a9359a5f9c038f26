import S3Protocol

/// What a project may do on a dataset it reads through a view: GET and HEAD of the current
/// version, listings and the bucket's existence, nothing else. Every other path could return
/// raw bytes or metadata (versions, parts, tags, ACLs, uploads, copies, response overrides) or
/// change the data, so it is closed; the caller refuses it with AccessDenied and audits why.
enum ViewGate {
    static let allowed: Set<S3Operation> = [.getObject, .headObject, .listObjects, .listObjectsV2, .headBucket, .getBucketLocation]

    /// Query parameters that would read another representation than the view output.
    static let closedParameters = ["versionId", "partNumber"] + S3Dispatcher.responseOverrides.map(\.0)

    static func refusal(_ op: S3Operation, _ target: RequestTarget, dataset: String) -> String? {
        guard allowed.contains(op) else {
            return "dataset \(dataset) is read through the project's view: only GET, HEAD and listings are allowed, not \(op.rawValue)"
        }
        if let p = closedParameters.first(where: { target.queryValue($0) != nil }) {
            return "dataset \(dataset) is read through the project's view: the \(p) parameter is refused"
        }
        return nil
    }
}
