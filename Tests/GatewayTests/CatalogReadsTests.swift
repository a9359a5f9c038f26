import Catalog
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import S3Protocol
import Storage
import Testing

/// What a GET, a HEAD and a PUT cost in catalog transactions (each one a round trip on a
/// database server), measured in-process through the S3 front door: on a dataset in place, and
/// on one that mirrors to a migration target (the replication status is part of every answer).
@Suite("Catalog transactions per request")
struct CatalogReadsTests {
    static let access = "AKCOUNTING", secret = "counting-secret"

    struct Counts: Equatable, CustomStringConvertible {
        var reads: Int
        var writes: Int
        var description: String { "\(reads) reads, \(writes) writes" }
    }

    func request(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, body: [UInt8] = []) async throws -> TestResponse {
        let hash = SigV4.sha256Hex(String(decoding: body, as: UTF8.self))
        let signed = SigV4Signer(accessKey: Self.access, secret: Self.secret, region: "us-east-1")
            .sign(method: method.rawValue, path: path, query: [], headers: [("host", "localhost")], payloadHash: hash, date: Date())
        var headers = HTTPFields()
        for (name, value) in signed { headers[HTTPField.Name(name)!] = value }
        return try await client.execute(uri: path, method: method, headers: headers, body: body.isEmpty ? nil : ByteBuffer(bytes: body))
    }

    func counted(_ catalog: SQLiteCatalog, _ body: () async throws -> Void) async throws -> Counts {
        let before = catalog.transactions.snapshot
        try await body()
        let after = catalog.transactions.snapshot
        return Counts(reads: after.reads - before.reads, writes: after.writes - before.writes)
    }

    @Test("GET, HEAD and PUT, in place and while mirroring")
    func perRequest() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reads-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let catalog = try SQLiteCatalog(path: dir + "/catalog.sqlite")
        let local = try FileSystemStore(root: dir + "/store")
        let second = try FileSystemStore(root: dir + "/second")
        let backends = BackendRegistry(backends: ["local": FileSystemBackend(store: local), "second": FileSystemBackend(store: second)],
                                       defaultPlacement: .local)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let state = GatewayState(catalog: catalog, backends: backends, credentials: CredentialStore(named: [Self.access: ("root", Self.secret)]),
                                 region: "us-east-1", logger: logger)
        let app = Application(responder: S3Responder(state: state), logger: logger)
        try await app.test(.router) { client in
            func ok(_ method: HTTPRequest.Method, _ path: String, body: String = "") async throws {
                let r = try await request(client, method, path, body: Array(body.utf8))
                #expect(r.status == .ok, "\(method) \(path)")
            }
            try await ok(.put, "/plain")
            try await ok(.put, "/plain/k", body: "hello")
            let get = try await counted(catalog) { try await ok(.get, "/plain/k") }
            let head = try await counted(catalog) { try await ok(.head, "/plain/k") }
            let put = try await counted(catalog) { try await ok(.put, "/plain/k", body: "again") }
            _ = try await catalog.startMigration(
                MigrationRecord(bucket: "plain", source: .local, target: Placement(backend: "second"), mode: .journaled, started: Date()),
                transition: PhaseTransition(bucket: "plain", from: .legacy, to: .mirroring, who: "test", at: Date(), why: "test"))
            let mirroredGet = try await counted(catalog) {
                let r = try await request(client, .get, "/plain/k")
                #expect(r.status == .ok && r.headers[HTTPField.Name("x-amz-replication-status")!] == "PENDING")
            }
            let mirroredPut = try await counted(catalog) { try await ok(.put, "/plain/k2", body: "x") }
            print("catalog transactions: GET \(get), HEAD \(head), PUT \(put); mirroring: GET \(mirroredGet), PUT \(mirroredPut)")
            #expect(get.writes == 0 && head.writes == 0 && mirroredGet.writes == 0)
            #expect(put.writes == 1 && mirroredPut.writes == 1)
        }
    }
}
