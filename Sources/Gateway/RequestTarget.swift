import HTTPTypes
import Hummingbird
import S3Protocol

/// Bucket, key and query of an S3 request, from path-style (`/bucket/key`) or
/// virtual-host-style (`bucket.<domain>/key`) addressing.
struct RequestTarget: Sendable {
    var bucket: String?
    var key: String?
    var query: [(String, String)]
    /// Decoded path, as SigV4 canonicalises it.
    var path: String
    var host: String

    func queryValue(_ name: String) -> String? {
        query.first { $0.0 == name }?.1
    }

    /// - Parameter domains: host names under which `bucket.<domain>` addressing applies.
    static func parse(_ request: Request, domains: [String]) throws(S3Error) -> RequestTarget {
        let raw = request.head.path ?? "/"
        let pathPart: Substring, queryPart: Substring?
        if let q = raw.firstIndex(of: "?") {
            pathPart = raw[..<q]
            queryPart = raw[raw.index(after: q)...]
        } else {
            pathPart = Substring(raw)
            queryPart = nil
        }
        guard let path = URIEncoding.decode(pathPart), path.hasPrefix("/") else {
            throw S3Error(.invalidArgument, "The request path is not valid percent-encoded UTF-8.")
        }
        guard let query = URIEncoding.parseQuery(queryPart.map(String.init) ?? "") else {
            throw S3Error(.invalidArgument, "The query string is not valid percent-encoded UTF-8.")
        }
        let host = request.head.authority ?? ""
        let hostName = Self.stripPort(host).lowercased()
        var bucket: String?
        var key: String?
        if let domain = domains.first(where: { hostName.hasSuffix("." + $0) }) {
            bucket = String(hostName.dropLast(domain.count + 1))
            let k = String(path.dropFirst())
            key = k.isEmpty ? nil : k
        } else {
            let rest = path.dropFirst()
            if let slash = rest.firstIndex(of: "/") {
                bucket = String(rest[..<slash])
                let k = String(rest[rest.index(after: slash)...])
                key = k.isEmpty ? nil : k
            } else {
                bucket = rest.isEmpty ? nil : String(rest)
            }
        }
        return RequestTarget(bucket: bucket, key: key, query: query, path: path, host: host)
    }

    static func stripPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            return host.split(separator: "]").first.map { String($0) + "]" } ?? host
        }
        return host.split(separator: ":").first.map(String.init) ?? host
    }

    /// The request as SigV4 sees it; `host` comes from the HTTP/1 Host header (HTTPTypes
    /// moves it into `authority`).
    func signable(_ request: Request) -> SignableRequest {
        var headers: [(String, String)] = [("host", host)]
        for field in request.headers {
            headers.append((field.name.canonicalName, field.value))
        }
        return SignableRequest(method: request.method.rawValue, path: path, query: query, headers: headers)
    }
}
