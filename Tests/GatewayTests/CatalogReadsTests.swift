import Catalog
import Datasets
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
    struct Counts: Equatable, CustomStringConvertible {
        var reads: Int
        var writes: Int
        var description: String { "\(reads) reads, \(writes) writes" }
    }

    func counted(_ catalog: SQLiteCatalog, _ body: () async throws -> Void) async throws -> Counts {
        let before = catalog.transactions.snapshot
        try await body()
        let after = catalog.transactions.snapshot
        return Counts(reads: after.reads - before.reads, writes: after.writes - before.writes)
    }

    @Test("GET, HEAD and PUT, in place and while mirroring")
    func perRequest() async throws {
        let door = try FrontDoor()
        let catalog = door.catalog
        try await door.run { client in
            func ok(_ method: HTTPRequest.Method, _ path: String, body: String = "") async throws {
                let r = try await client.send(method, path, body: Array(body.utf8))
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
                let r = try await client.send(.get, "/plain/k")
                #expect(r.status == .ok && r.headers[HTTPField.Name("x-amz-replication-status")!] == "PENDING")
            }
            let mirroredPut = try await counted(catalog) { try await ok(.put, "/plain/k2", body: "x") }
            print("catalog transactions: GET \(get), HEAD \(head), PUT \(put); mirroring: GET \(mirroredGet), PUT \(mirroredPut)")
            // Before the object layer's read plan: GET and HEAD 2 reads, 4 while mirroring; PUT 1 read, 1 write.
            #expect(get == Counts(reads: 1, writes: 0) && head == Counts(reads: 1, writes: 0))
            #expect(mirroredGet == Counts(reads: 1, writes: 0))
            #expect(put == Counts(reads: 1, writes: 1) && mirroredPut == Counts(reads: 1, writes: 1))
        }
    }
}
