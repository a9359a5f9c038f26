import Foundation
import NIOCore
import S3Protocol

/// An S3-compatible service: one client (connection pool) shared by its buckets.
public final class S3Backend: Backend {
    public var kind: String { "s3" }
    public let client: S3Client
    public let capabilities: StoreCapabilities
    public var location: String { client.endpoint.url }

    public init(client: S3Client, capabilities: StoreCapabilities) {
        self.client = client
        self.capabilities = capabilities
    }

    public func store(container: String) throws -> any ObjectStore {
        S3Store(client: client, bucket: container, capabilities: capabilities)
    }

    public func check(container: String?) async throws -> [String] {
        var lines = [
            "endpoint: \(client.endpoint.url) (region \(client.endpoint.region), \(client.endpoint.pathStyle ? "path" : "virtual-host") style)"
        ]
        guard let container else {
            _ = try await client.perform { self.client.request(.GET, bucket: nil) }
            lines.append("ListBuckets: credentials accepted")
            return lines
        }
        let (probed, notes) = try await S3Probe.capabilities(client: client, bucket: container, base: capabilities)
        lines += notes
        for (what, configured, found) in [
            ("needs Content-MD5 on DeleteObjects", capabilities.needsContentMD5OnDelete, probed.needsContentMD5OnDelete),
            ("accepts aws-chunked", capabilities.acceptsAWSChunked, probed.acceptsAWSChunked),
        ]
        where configured != found {
            lines.append("warning: profile says \(what) = \(configured), the backend answers \(found)")
        }
        if probed.maxPartNumber < capabilities.maxPartNumber {
            lines.append("warning: profile allows part numbers up to \(capabilities.maxPartNumber), the backend only \(probed.maxPartNumber)")
        }
        return lines
    }

    public func shutdown() async {
        await client.transport.shutdown()
    }
}

/// An Azure storage account's Blob service: one client shared by its containers.
public final class AzureBackend: Backend {
    public var kind: String { "azure" }
    public let client: AzureClient
    public let capabilities: StoreCapabilities
    public var location: String { "\(client.endpoint.url) (account \(client.endpoint.account))" }

    public init(client: AzureClient, capabilities: StoreCapabilities = .azure) {
        self.client = client
        self.capabilities = capabilities
    }

    public func store(container: String) throws -> any ObjectStore {
        AzureBlobStore(client: client, container: container, capabilities: capabilities)
    }

    public func check(container: String?) async throws -> [String] {
        var lines = ["endpoint: \(location), service version \(AzureClient.version)"]
        guard let container else {
            _ = try await client.perform(expect: [200]) { self.client.request(.GET, container: nil, query: [("comp", "list"), ("maxresults", "1")]) }
            lines.append("List Containers: credentials accepted")
            return lines
        }
        _ = try await client.perform(expect: [200], notFoundCodes: []) {
            self.client.request(.HEAD, container: container, query: [("restype", "container")])
        }
        lines.append("container \(container): exists, credentials accepted")
        // Round trip of a probe blob through the calls the gateway makes.
        let store = AzureBlobStore(client: client, container: container, capabilities: capabilities, bufferLimit: 16, blockThreshold: 16)
        let probe = "passerelle-probe-\(AzureBlobStore.newUploadID())"
        let body = ByteBuffer(string: String(repeating: "passerelle", count: 4))
        let stored = try await store.put(name: probe, length: Int64(body.readableBytes), body: BufferSequence(body), attributes: .none)
        var read = ByteBuffer()
        for try await var chunk in try await store.open(name: probe, range: ByteRange(start: 10, end: 19), ifMatch: stored.etag) {
            read.writeBuffer(&chunk)
        }
        try await store.delete(name: probe)
        guard read == body.getSlice(at: 10, length: 10) else { throw StoreError.unavailable("the probe blob read back differs") }
        lines.append("Put Block, Put Block List, ranged Get Blob, Delete Blob: working")
        return lines
    }

    public func shutdown() async {
        await client.transport.shutdown()
    }
}
