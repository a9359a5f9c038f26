import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol
import Storage

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks.", subcommands: [BenchS3.self])
}

/// The same S3 workload against any endpoint (the gateway, or a peer such as SeaweedFS), so
/// that a driver script can print ratios from one run (`Benchmarks/s3-vs-seaweedfs.sh`).
struct BenchS3: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "s3", abstract: "PUT/GET throughput and small-object ops/s against an S3 endpoint.")

    @Option(help: "S3 endpoint, e.g. http://127.0.0.1:9000") var endpoint: String
    @Option(name: .customLong("access-key")) var accessKey: String
    @Option(name: .customLong("secret-key")) var secretKey: String
    @Option var region = "us-east-1"
    @Option(help: "Bucket to create and use.") var bucket = "bench-\(UInt32.random(in: 0...UInt32.max))"
    @Option(name: .customLong("large-total-mib")) var largeTotalMiB = 1024
    @Option(name: .customLong("large-object-mib")) var largeObjectMiB = 64
    @Option(name: .customLong("large-concurrency")) var largeConcurrency = 4
    @Option(name: .customLong("small-ops")) var smallOps = 4000
    @Option(name: .customLong("small-size")) var smallSize = 4096
    @Option(name: .customLong("small-concurrency")) var smallConcurrency = 16
    @Option(name: .customLong("stream-gib"), help: "Also PUT then GET one object of this many GiB, streamed (0: skip).") var streamGiB = 0
    @Option(help: "Which phases: large,small,stream") var phases = "large,small,stream"

    func run() async throws {
        let client = try S3BenchClient(endpoint: S3Endpoint(url: endpoint, region: region, accessKey: accessKey, secretKey: secretKey))
        var results: [String: Double] = [:]
        try await client.expect(200, "PUT", "/\(bucket)", body: ByteBuffer())
        let wanted = Set(phases.split(separator: ","))
        if wanted.contains("large") {
            let size = largeObjectMiB << 20
            var payload = ByteBuffer()
            var rng = SystemRandomNumberGenerator()
            payload.writeBytes((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let body = payload
            let count = max(1, largeTotalMiB / largeObjectMiB)
            let keys = (0..<count).map { "large/\($0)" }
            let put = try await client.timed(keys, concurrency: largeConcurrency) { key in
                try await client.expect(200, "PUT", "/\(bucket)/\(key)", body: body)
            }
            let get = try await client.timed(keys, concurrency: largeConcurrency) { key in
                let n = try await client.get("/\(bucket)/\(key)")
                guard n == size else { throw ValidationError("GET \(key) returned \(n) bytes") }
            }
            results["put_mib_s"] = Double(count * largeObjectMiB) / put
            results["get_mib_s"] = Double(count * largeObjectMiB) / get
        }
        if wanted.contains("small") {
            let payload = ByteBuffer(bytes: [UInt8](repeating: 0x61, count: smallSize))
            let keys = (0..<smallOps).map { "small/\($0)" }
            let put = try await client.timed(keys, concurrency: smallConcurrency) { key in
                try await client.expect(200, "PUT", "/\(bucket)/\(key)", body: payload)
            }
            let get = try await client.timed(keys, concurrency: smallConcurrency) { key in
                _ = try await client.get("/\(bucket)/\(key)")
            }
            results["small_put_ops"] = Double(smallOps) / put
            results["small_get_ops"] = Double(smallOps) / get
        }
        if wanted.contains("stream"), streamGiB > 0 {
            let total = Int64(streamGiB) << 30
            let start = Date()
            try await client.putStream("/\(bucket)/stream", length: total)
            results["stream_put_mib_s"] = Double(total >> 20) / Date().timeIntervalSince(start)
            let g = Date()
            let n = try await client.get("/\(bucket)/stream")
            guard Int64(n) == total else { throw ValidationError("stream GET returned \(n) bytes") }
            results["stream_get_mib_s"] = Double(total >> 20) / Date().timeIntervalSince(g)
        }
        await client.s3.transport.shutdown()
        let json = results.keys.sorted().map { "\"\($0)\": \(String(format: "%.1f", results[$0] ?? 0))" }.joined(separator: ", ")
        print("{\(json)}")
    }
}

/// The benchmark's client: the backends' signed S3 client (`S3Client`), with UNSIGNED-PAYLOAD
/// bodies, so the benchmark measures the servers, not client-side hashing.
struct S3BenchClient: Sendable {
    let s3: S3Client
    var http: HTTPClient { s3.transport.client }

    init(endpoint: S3Endpoint) throws {
        s3 = try S3Client(endpoint: endpoint, transport: HTTPTransport(settings: HTTPSettings(readTimeout: .seconds(600))))
    }

    /// `path` is `/bucket[/key]`, unencoded.
    func request(_ method: String, _ path: String, length: Int64?) -> HTTPClientRequest {
        let parts = path.dropFirst().split(separator: "/", maxSplits: 1).map(String.init)
        return s3.request(HTTPMethod(rawValue: method), bucket: parts.first, key: parts.count > 1 ? parts[1] : nil,
                          headers: length.map { [("content-length", String($0))] } ?? [])
    }

    func expect(_ status: UInt, _ method: String, _ path: String, body: ByteBuffer) async throws {
        var req = request(method, path, length: Int64(body.readableBytes))
        req.body = .bytes(body)
        let resp = try await http.execute(req, timeout: .seconds(600))
        var text = ""
        for try await chunk in resp.body { text += String(buffer: chunk) }
        // Creating an existing bucket is fine for a benchmark.
        guard resp.status.code == status || (method == "PUT" && path.split(separator: "/").count == 1 && resp.status.code == 409) else {
            throw ValidationError("\(method) \(path): \(resp.status.code) \(text.prefix(300))")
        }
    }

    func get(_ path: String) async throws -> Int {
        let resp = try await http.execute(request("GET", path, length: nil), timeout: .seconds(600))
        var n = 0
        for try await chunk in resp.body { n += chunk.readableBytes }
        guard resp.status.code == 200 else { throw ValidationError("GET \(path): \(resp.status.code)") }
        return n
    }

    /// PUTs `length` bytes generated on the fly, so neither side ever holds the object.
    func putStream(_ path: String, length: Int64) async throws {
        var req = request("PUT", path, length: length)
        req.body = .stream(GeneratedBody(chunks: Int(length >> 20)), length: .known(length))
        let resp = try await http.execute(req, timeout: .seconds(3600))
        for try await _ in resp.body {}
        guard resp.status.code == 200 else { throw ValidationError("stream PUT: \(resp.status.code)") }
    }

    /// Runs `body` over `items` with at most `concurrency` in flight; returns seconds elapsed.
    func timed(_ items: [String], concurrency: Int, _ body: @escaping @Sendable (String) async throws -> Void) async throws -> Double {
        let start = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var it = items.makeIterator()
            for _ in 0..<concurrency {
                guard let k = it.next() else { break }
                group.addTask { try await body(k) }
            }
            while try await group.next() != nil {
                if let k = it.next() { group.addTask { try await body(k) } }
            }
        }
        return Date().timeIntervalSince(start)
    }
}

/// `chunks` MiB of constant bytes, produced on demand.
struct GeneratedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let chunks: Int
    static let chunk = ByteBuffer(bytes: [UInt8](repeating: 0x5A, count: 1 << 20))

    struct AsyncIterator: AsyncIteratorProtocol {
        var left: Int
        mutating func next() async -> ByteBuffer? {
            guard left > 0 else { return nil }
            left -= 1
            return GeneratedBody.chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(left: chunks) }
}
