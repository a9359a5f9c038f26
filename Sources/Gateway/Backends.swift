import Foundation
import Storage

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
        var lines = ["endpoint: \(client.endpoint.url) (region \(client.endpoint.region), \(client.endpoint.pathStyle ? "path" : "virtual-host") style)"]
        guard let container else {
            _ = try await client.perform { self.client.request(.GET, bucket: nil) }
            lines.append("ListBuckets: credentials accepted")
            return lines
        }
        let (probed, notes) = try await S3Probe.capabilities(client: client, bucket: container, base: capabilities)
        lines += notes
        for (what, configured, found) in [("needs Content-MD5 on DeleteObjects", capabilities.needsContentMD5OnDelete, probed.needsContentMD5OnDelete),
                                          ("accepts aws-chunked", capabilities.acceptsAWSChunked, probed.acceptsAWSChunked)]
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
