import Foundation

/// A PostgreSQL server named by a libpq-style URL
/// (`postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=FILE`).
/// Parsing is pure; the password never appears in `description` nor in the connection string
/// handed to `psql`/`pg_dump` (they get it through `PGPASSWORD`).
public struct PgEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCert: String?

    public init(url: String) throws(CDCError) {
        guard let c = URLComponents(string: url), let scheme = c.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw CDCError("not a PostgreSQL URL (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE): \(PgEndpoint.redact(url))")
        }
        guard let host = c.host, !host.isEmpty else { throw CDCError("the URL names no host: \(PgEndpoint.redact(url))") }
        guard let user = c.user, !user.isEmpty else { throw CDCError("the URL names no user: \(PgEndpoint.redact(url))") }
        self.host = host
        self.port = c.port ?? 5432
        guard (1...65535).contains(port) else { throw CDCError("bad port \(port)") }
        self.user = user.removingPercentEncoding ?? user
        self.password = c.password.map { $0.removingPercentEncoding ?? $0 }
        let db = String(c.path.drop(while: { $0 == "/" }))
        self.database = db.isEmpty ? self.user : (db.removingPercentEncoding ?? db)
        self.sslMode = .prefer
        for item in c.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let v = item.value, let mode = SSLMode(rawValue: v) else {
                    throw CDCError("unknown sslmode '\(item.value ?? "")' (one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                sslMode = mode
            case "sslrootcert": sslRootCert = item.value
            case "password": password = item.value
            default: throw CDCError("unsupported URL parameter '\(item.name)' (sslmode and sslrootcert are)")
            }
        }
        if sslMode == .verifyCA || sslMode == .verifyFull, sslRootCert == nil {
            throw CDCError("sslmode=\(sslMode.rawValue) needs sslrootcert=FILE (the CA that signed the server's certificate)")
        }
    }

    /// `postgres://user@host:port/db`: safe to print.
    public var description: String { "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    /// A libpq key/value connection string without the password.
    public var conninfo: String {
        var pairs = [("host", host), ("port", String(port)), ("user", user), ("dbname", database), ("sslmode", sslMode.rawValue)]
        if let root = sslRootCert { pairs.append(("sslrootcert", root)) }
        return pairs.map { "\($0.0)=\(PgEndpoint.quoteConninfo($0.1))" }.joined(separator: " ")
    }

    /// The environment for a libpq child process (`psql`, `pg_dump`).
    public var childEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["PGPASSWORD"] = password
        env["PGAPPNAME"] = "passerelle-cdc"
        env["PGCONNECT_TIMEOUT"] = "10"
        return env
    }

    static func quoteConninfo(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    /// The URL with its password replaced, for error messages about URLs that did not parse.
    static func redact(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let schemeEnd = url.range(of: "://"), schemeEnd.upperBound < at else { return url }
        let userinfo = url[schemeEnd.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// An error of the replicator, with a message an operator can act on.
public struct CDCError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
