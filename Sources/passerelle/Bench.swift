import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol
import Storage

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks.", subcommands: [BenchS3.self, BenchAzure.self, BenchAudit.self, BenchView.self])
}

/// One store a benchmark writes to and reads from: an S3 endpoint (the gateway, or a peer such
/// as SeaweedFS) or an Azure Blob account, so a driver script prints ratios from one run.
protocol BenchTarget: Sendable {
    func prepare() async throws
    func put(_ key: String, body: ByteBuffer) async throws
    /// GETs `key` (or bytes `range` of it); returns the number of bytes read.
    func get(_ key: String, range: ClosedRange<Int>?) async throws -> Int
    /// PUTs `length` bytes generated on the fly, so neither side ever holds the object.
    func putStream(_ key: String, length: Int64) async throws
    func shutdown() async
}

/// The workload every target runs: large objects, small objects, one streamed object.
struct Workload: ParsableArguments {
    @Option(name: .customLong("large-total-mib")) var largeTotalMiB = 1024
    @Option(name: .customLong("large-object-mib")) var largeObjectMiB = 64
    @Option(name: .customLong("large-concurrency")) var largeConcurrency = 4
    @Option(name: .customLong("small-ops")) var smallOps = 4000
    @Option(name: .customLong("small-size")) var smallSize = 4096
    @Option(name: .customLong("small-concurrency")) var smallConcurrency = 16
    @Option(name: .customLong("stream-gib"), help: "Also PUT then GET one object of this many GiB, streamed (0: skip).") var streamGiB = 0
    @Option(name: .customLong("ranged-ops"), help: "Ranged GETs of --ranged-size bytes at random offsets of the large objects.") var rangedOps = 200
    @Option(name: .customLong("ranged-size")) var rangedSize = 1 << 20
    @Option(help: "Which phases: large,ranged,small,stream (ranged needs large)") var phases = "large,small,stream"

    /// Runs the phases and prints one JSON line of results.
    func run(_ target: some BenchTarget) async throws {
        var results: [String: Double] = [:]
        try await target.prepare()
        let wanted = Set(phases.split(separator: ","))
        if wanted.contains("large") {
            let size = largeObjectMiB << 20
            var payload = ByteBuffer()
            var rng = SystemRandomNumberGenerator()
            payload.writeBytes((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let body = payload
            let count = max(1, largeTotalMiB / largeObjectMiB)
            let keys = (0..<count).map { "large/\($0)" }
            let put = try await Self.timed(keys, concurrency: largeConcurrency) { key in try await target.put(key, body: body) }
            let get = try await Self.timed(keys, concurrency: largeConcurrency) { key in
                let n = try await target.get(key, range: nil)
                guard n == size else { throw ValidationError("GET \(key) returned \(n) bytes") }
            }
            results["put_mib_s"] = Double(count * largeObjectMiB) / put
            results["get_mib_s"] = Double(count * largeObjectMiB) / get
            if wanted.contains("ranged") {
                let ranges = (0..<rangedOps).map { i in "\(keys[i % count]) \(Int.random(in: 0...(size - rangedSize)))" }
                let length = rangedSize
                let t = try await Self.timed(ranges, concurrency: largeConcurrency) { item in
                    let parts = item.split(separator: " ")
                    let start = Int(parts[1]) ?? 0
                    let n = try await target.get(String(parts[0]), range: start...(start + length - 1))
                    guard n == length else { throw ValidationError("ranged GET returned \(n) bytes") }
                }
                results["ranged_get_ops"] = Double(rangedOps) / t
            }
        }
        if wanted.contains("small") {
            let payload = ByteBuffer(bytes: [UInt8](repeating: 0x61, count: smallSize))
            let keys = (0..<smallOps).map { "small/\($0)" }
            let put = try await Self.timed(keys, concurrency: smallConcurrency) { key in try await target.put(key, body: payload) }
            let get = try await Self.timed(keys, concurrency: smallConcurrency) { key in _ = try await target.get(key, range: nil) }
            results["small_put_ops"] = Double(smallOps) / put
            results["small_get_ops"] = Double(smallOps) / get
        }
        if wanted.contains("stream"), streamGiB > 0 {
            let total = Int64(streamGiB) << 30
            let start = Date()
            try await target.putStream("stream", length: total)
            results["stream_put_mib_s"] = Double(total >> 20) / Date().timeIntervalSince(start)
            let g = Date()
            let n = try await target.get("stream", range: nil)
            guard Int64(n) == total else { throw ValidationError("stream GET returned \(n) bytes") }
            results["stream_get_mib_s"] = Double(total >> 20) / Date().timeIntervalSince(g)
        }
        await target.shutdown()
        let json = results.keys.sorted().map { "\"\($0)\": \(String(format: "%.1f", results[$0] ?? 0))" }.joined(separator: ", ")
        print("{\(json)}")
    }

    /// Runs `body` over `items` with at most `concurrency` in flight; returns seconds elapsed.
    static func timed(_ items: [String], concurrency: Int, _ body: @escaping @Sendable (String) async throws -> Void) async throws -> Double {
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

/// Sends a request and drains its response; fails unless the status is one of `expect`.
func benchExecute(_ http: HTTPClient, _ req: HTTPClientRequest, expect: Set<UInt>, _ what: String) async throws -> Int {
    let resp = try await http.execute(req, timeout: .seconds(3600))
    var n = 0
    var text = ""
    for try await chunk in resp.body {
        n += chunk.readableBytes
        if !expect.contains(resp.status.code), text.count < 300 { text += String(buffer: chunk) }
    }
    guard expect.contains(resp.status.code) else { throw ValidationError("\(what): \(resp.status.code) \(text.prefix(300))") }
    return n
}

struct BenchS3: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "s3", abstract: "PUT/GET throughput and small-object ops/s against an S3 endpoint.")

    @Option(help: "S3 endpoint, e.g. http://127.0.0.1:9000") var endpoint: String
    @Option(name: .customLong("access-key")) var accessKey: String
    @Option(name: .customLong("secret-key")) var secretKey: String
    @Option var region = "us-east-1"
    @Option(help: "Bucket to create and use.") var bucket = "bench-\(UInt32.random(in: 0...UInt32.max))"
    @OptionGroup var workload: Workload

    func run() async throws {
        try await workload.run(
            S3BenchTarget(endpoint: S3Endpoint(url: endpoint, region: region, accessKey: accessKey, secretKey: secretKey), bucket: bucket))
    }
}

/// The backends' signed S3 client (`S3Client`), with UNSIGNED-PAYLOAD bodies, so the
/// benchmark measures the servers, not client-side hashing.
struct S3BenchTarget: BenchTarget {
    let s3: S3Client
    let bucket: String

    init(endpoint: S3Endpoint, bucket: String) throws {
        s3 = try S3Client(endpoint: endpoint, transport: HTTPTransport(settings: HTTPSettings(readTimeout: .seconds(600))))
        self.bucket = bucket
    }

    func prepare() async throws {
        // Creating an existing bucket is fine for a benchmark.
        _ = try await benchExecute(
            s3.transport.client, s3.request(.PUT, bucket: bucket, headers: [("content-length", "0")]), expect: [200, 409], "CreateBucket")
    }

    func put(_ key: String, body: ByteBuffer) async throws {
        var req = s3.request(.PUT, bucket: bucket, key: key, headers: [("content-length", String(body.readableBytes))])
        req.body = .bytes(body)
        _ = try await benchExecute(s3.transport.client, req, expect: [200], "PUT \(key)")
    }

    func get(_ key: String, range: ClosedRange<Int>?) async throws -> Int {
        let headers = range.map { [("range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? []
        return try await benchExecute(
            s3.transport.client, s3.request(.GET, bucket: bucket, key: key, headers: headers), expect: [200, 206], "GET \(key)")
    }

    func putStream(_ key: String, length: Int64) async throws {
        var req = s3.request(.PUT, bucket: bucket, key: key, headers: [("content-length", String(length))])
        req.body = .stream(GeneratedBody(chunks: Int(length >> 20)), length: .known(length))
        _ = try await benchExecute(s3.transport.client, req, expect: [200], "stream PUT")
    }

    func shutdown() async { await s3.transport.shutdown() }
}

struct BenchAzure: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "azure", abstract: "The same workload against an Azure Blob account (Put Blob / Get Blob).")

    @Option(help: "Blob service endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1") var endpoint: String
    @Option var account: String
    @Option(name: .customLong("account-key-env"), help: "Environment variable holding the account key.") var accountKeyEnv = "AZURE_STORAGE_KEY"
    @Option(help: "Container to create and use.") var container = "bench-\(UInt32.random(in: 0...UInt32.max))"
    @OptionGroup var workload: Workload

    func run() async throws {
        guard let key = ProcessInfo.processInfo.environment[accountKeyEnv] else { throw ValidationError("set \(accountKeyEnv) to the account key") }
        let endpoint = AzureEndpoint(url: endpoint, account: account, credential: .sharedKey(try AzureSharedKey(account: account, base64Key: key)))
        let client = try AzureClient(endpoint: endpoint, transport: HTTPTransport(settings: HTTPSettings(readTimeout: .seconds(600))))
        try await workload.run(AzureBenchTarget(client: client, container: container))
    }
}

struct AzureBenchTarget: BenchTarget {
    let client: AzureClient
    let container: String
    var http: HTTPClient { client.transport.client }

    func prepare() async throws {
        let req = client.request(.PUT, container: container, query: [("restype", "container")], headers: [("content-length", "0")])
        _ = try await benchExecute(http, req, expect: [201, 409], "Create Container")
    }

    func putRequest(_ key: String, length: Int64) -> HTTPClientRequest {
        client.request(.PUT, container: container, blob: key, headers: [("content-length", String(length)), ("x-ms-blob-type", "BlockBlob")])
    }

    func put(_ key: String, body: ByteBuffer) async throws {
        var req = putRequest(key, length: Int64(body.readableBytes))
        req.body = .bytes(body)
        _ = try await benchExecute(http, req, expect: [201], "Put Blob \(key)")
    }

    func get(_ key: String, range: ClosedRange<Int>?) async throws -> Int {
        let headers = range.map { [("x-ms-range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? []
        return try await benchExecute(
            http, client.request(.GET, container: container, blob: key, headers: headers), expect: [200, 206], "Get Blob \(key)")
    }

    func putStream(_ key: String, length: Int64) async throws {
        var req = putRequest(key, length: length)
        req.body = .stream(GeneratedBody(chunks: Int(length >> 20)), length: .known(length))
        _ = try await benchExecute(http, req, expect: [201], "stream Put Blob")
    }

    func shutdown() async { await client.transport.shutdown() }
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
