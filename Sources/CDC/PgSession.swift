import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import TLSPolicy

/// One connection to a PostgreSQL server, with errors turned into messages an operator can
/// act on (`CDCError`). The session settings make every value's text form independent of the
/// server's defaults: the replicator compares and copies values as text.
public struct PgSession: Sendable {
    public let endpoint: PgEndpoint
    public let connection: PostgresConnection
    static let logger = Logger(label: "passerelle.cdc.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    public static func connect(_ endpoint: PgEndpoint, purpose: String) async throws(CDCError) -> PgSession {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch endpoint.sslMode {
            case .disable: tls = .disable
            case .allow, .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration(endpoint, verify: .none)))
            case .require: tls = .require(try NIOSSLContext(configuration: tlsConfiguration(endpoint, verify: .none)))
            case .verifyCA: tls = .require(try NIOSSLContext(configuration: tlsConfiguration(endpoint, verify: .noHostnameVerification)))
            case .verifyFull: tls = .require(try NIOSSLContext(configuration: tlsConfiguration(endpoint, verify: .fullVerification)))
            }
        } catch {
            throw CDCError("\(endpoint): cannot set up TLS (\(error))")
        }
        var config = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: endpoint.user, password: endpoint.password,
            database: endpoint.database, tls: tls)
        config.options.connectTimeout = .seconds(10)
        config.options.additionalStartupParameters = [
            ("application_name", "passerelle-cdc-\(purpose)"), ("TimeZone", "UTC"), ("DateStyle", "ISO, YMD"),
            ("IntervalStyle", "postgres"), ("extra_float_digits", "1"), ("standard_conforming_strings", "on"),
        ]
        do {
            let c = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: config, id: 1, logger: logger)
            return PgSession(endpoint: endpoint, connection: c)
        } catch {
            throw CDCError("cannot connect to \(endpoint): \(describe(error))")
        }
    }

    private static func tlsConfiguration(_ e: PgEndpoint, verify: CertificateVerification) -> TLSConfiguration {
        var tls = TLSPolicy.client()
        tls.certificateVerification = verify
        if let root = e.sslRootCert { tls.trustRoots = .file(root) }
        return tls
    }

    /// Runs `body` with a new session, closed whatever happens (postgres-nio requires it).
    public static func using<T>(_ endpoint: PgEndpoint, purpose: String, _ body: (PgSession) async throws -> T) async throws -> T {
        let session = try await connect(endpoint, purpose: purpose)
        do {
            let result = try await body(session)
            await session.close()
            return result
        } catch {
            await session.close()
            throw error
        }
    }

    /// Sends a query. postgres-nio 1.33 drops a query written to a connection the server has
    /// already closed (pg_terminate_backend, a restart) and never completes it, so a closed
    /// connection is an error here, before anything is sent.
    public func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        guard !connection.isClosed else { throw CDCError("the connection was closed (server restart, or the session was terminated)") }
        return try await connection.query(query, logger: Self.logger)
    }

    /// Runs statements that return nothing of interest.
    public func exec(_ sql: String) async throws(CDCError) {
        do {
            let rows = try await query(PostgresQuery(unsafeSQL: sql))
            for try await _ in rows {}
        } catch {
            throw CDCError("\(endpoint): \(Self.describe(error))")
        }
    }

    /// A small result, every column read as text (NULL as nil).
    public func rows(_ query: PostgresQuery) async throws(CDCError) -> [[String?]] {
        do {
            var out: [[String?]] = []
            for try await row in try await self.query(query) {
                var values: [String?] = []
                for cell in row { values.append(try cell.decode(String?.self)) }
                out.append(values)
            }
            return out
        } catch {
            throw CDCError("\(endpoint): \(Self.describe(error))")
        }
    }

    /// The primary-key columns of a table (unquoted, in key order); empty when it has none.
    public func primaryKey(of qualifiedTable: String) async throws(CDCError) -> [String] {
        try await rows(
            """
            SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = to_regclass(\(qualifiedTable)) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)
            """
        ).compactMap { $0.first ?? nil }
    }

    /// The first column of the first row, as text.
    public func value(_ query: PostgresQuery) async throws(CDCError) -> String? {
        try await rows(query).first?.first ?? nil
    }

    public func close() async {
        try? await connection.close()
    }

    /// The server's message (SQLSTATE, detail, hint) or the connection failure, never the
    /// query text or its values.
    public static func describe(_ error: any Error) -> String {
        if let e = error as? CDCError { return e.description }
        guard let p = error as? PSQLError else { return "\(error)" }
        if let info = p.serverInfo, let message = info[.message] {
            var s = message
            if let state = info[.sqlState] { s += " (SQLSTATE \(state))" }
            if let detail = info[.detail] { s += "; \(detail)" }
            if let hint = info[.hint] { s += "; hint: \(hint)" }
            return s
        }
        switch p.code {
        case .connectionError: return "connection failed: \(p.underlying.map { "\($0)" } ?? "unknown")"
        case .serverClosedConnection, .clientClosedConnection: return "the server closed the connection"
        case .sslUnsupported: return "the server does not support TLS (use sslmode=disable or prefer)"
        case .authMechanismRequiresPassword: return "the server asks for a password and the URL has none"
        default: return "\(p.code)\(p.underlying.map { ": \($0)" } ?? "")"
        }
    }
}
