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
import TestSupport

/// The S3 front door in-process (HummingbirdTesting's router framework: no sockets), on a
/// local store and a second one a dataset can migrate to, with signed requests.
struct FrontDoor {
    static let access = "AKFRONTDOOR", secret = "front-door-secret"
    let catalog: SQLiteCatalog
    let state: GatewayState

    init() throws {
        let dir = try TemporaryDirectory.make()
        catalog = try SQLiteCatalog(path: dir + "/catalog.sqlite")
        let backends = BackendRegistry(
            backends: [
                "local": FileSystemBackend(store: try FileSystemStore(root: dir + "/store")),
                "second": FileSystemBackend(store: try FileSystemStore(root: dir + "/second")),
            ],
            defaultPlacement: .local)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        state = GatewayState(
            objects: ObjectLayer(catalog: catalog, backends: backends, logger: logger),
            credentials: CredentialStore(named: [Self.access: ("root", Self.secret)]), region: "us-east-1", logger: logger,
            metrics: GatewayMetrics())
    }

    func run<T>(_ test: @Sendable (Client) async throws -> T) async throws -> T {
        let app = Application(responder: S3Responder(state: state), logger: state.logger)
        return try await app.test(.router) { client in try await test(Client(client: client)) }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol

        /// A request signed with SigV4 over every header given (plus `host`), or unsigned.
        func send(
            _ method: HTTPRequest.Method, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
            body: [UInt8] = [], signed: Bool = true
        ) async throws -> TestResponse {
            var fields = HTTPFields()
            var all = headers
            if signed {
                let hash = Hex.encode(ChecksumHasher.digest(.sha256, of: body))
                all += SigV4Signer(accessKey: FrontDoor.access, secret: FrontDoor.secret, region: "us-east-1")
                    .sign(
                        method: method.rawValue, path: path, query: query, headers: [("host", "localhost")] + headers, payloadHash: hash, date: Date()
                    )
            }
            for (name, value) in all { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            let uri =
                query.isEmpty ? path : path + "?" + query.map { "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
            return try await client.execute(uri: uri, method: method, headers: fields, body: body.isEmpty ? nil : ByteBuffer(bytes: body))
        }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The `<Code>` of an S3 error document.
    var code: String? {
        guard let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>") else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
