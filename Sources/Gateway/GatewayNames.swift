import S3Protocol

/// Dataset names the gateway can serve. Unsigned requests to `/health`, `/metrics`,
/// `/session` and `/audit/…` are the gateway's own endpoints, so a bucket of one of those names
/// would be reachable only by signed requests and shadowed for every other client: refused.
public enum GatewayNames {
    public static let reserved: Set<String> = ["health", "metrics", "session", "audit"]

    /// Nil when `name` can be a dataset, else why not (AWS's rules, then ours).
    public static func datasetNameProblem(_ name: String) -> String? {
        if let problem = Names.bucketNameProblem(name) { return problem }
        if reserved.contains(name) { return "The name '\(name)' is reserved for the gateway's own endpoints." }
        return nil
    }
}
