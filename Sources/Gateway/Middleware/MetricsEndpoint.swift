import Catalog
import Crypto
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol

/// `GET /metrics` (Prometheus text format). Served unauthenticated on the metrics listener
/// only, which `serve` binds to loopback by default; on the S3 listeners only to a bearer of
/// the configured token (compared in constant time).
struct MetricsEndpoint: Sendable {
    let state: GatewayState

    static let health = Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))

    func response() async -> Response {
        if let migrations = try? await state.catalog.migrations() {
            for m in migrations {
                let journal = (try? await state.catalog.journalStats(bucket: m.bucket)) ?? JournalStats()
                state.metrics.observe(migration: m, journal: journal, now: state.now())
            }
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: state.metrics.text())))
    }

    /// The answer to `GET /metrics` on an S3 listener; nil for a SigV4-signed request, which
    /// addresses a bucket (none can be named `metrics`).
    func bearerResponse(_ request: Request) async -> Response? {
        let authorization = request.headers[.authorization]
        if let authorization, authorization.hasPrefix("Bearer ") {
            guard let token = state.metricsToken,
                constantTimeEqual(Array(authorization.dropFirst("Bearer ".count).utf8), Array(token.utf8))
            else { return Self.unauthorized }
            return await response()
        }
        guard authorization == nil, request.uri.query?.contains("Signature=") != true else { return nil }
        return Self.unauthorized
    }

    static let unauthorized = Response(
        status: .unauthorized,
        headers: [.contentType: "text/plain", .wwwAuthenticate: "Bearer realm=\"passerelle-metrics\""],
        body: .init(
            byteBuffer: ByteBuffer(
                string: "metrics are served on the metrics listener (serve --metrics-listen), or here with the configured bearer token\n")))
}

/// The metrics listener's whole API: `/metrics` and `/health`.
struct MetricsResponder: HTTPResponder {
    typealias Context = S3RequestContext
    let endpoint: MetricsEndpoint

    func respond(to request: Request, context: S3RequestContext) async throws -> Response {
        switch (request.method, request.uri.path) {
        case (.get, "/metrics"): return await endpoint.response()
        case (.get, "/health"): return MetricsEndpoint.health
        default: return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
        }
    }
}
