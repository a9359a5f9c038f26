import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol

/// Where an S3-compatible service is and how to sign for it.
public struct S3Endpoint: Sendable {
    /// `http(s)://host[:port]`, no path.
    public var url: String
    public var region: String
    public var accessKey: String
    public var secretKey: String
    /// Path-style (`host/bucket/key`) or virtual-host-style (`bucket.host/key`) addressing.
    public var pathStyle: Bool

    public init(url: String, region: String, accessKey: String, secretKey: String, pathStyle: Bool = true) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.pathStyle = pathStyle
    }
}

/// Signed S3 requests over AsyncHTTPClient (SigV4 header form, shared with the verifier's
/// canonicalisation in `S3Protocol`).
public final class S3Client: Sendable {
    public let endpoint: S3Endpoint
    public let transport: HTTPTransport
    let scheme: String
    let host: String
    let signer: SigV4Signer

    public init(endpoint: S3Endpoint, transport: HTTPTransport) throws {
        let url = try ServiceURL(endpoint.url)
        self.endpoint = endpoint
        self.transport = transport
        self.scheme = url.scheme
        self.host = url.authority
        self.signer = SigV4Signer(accessKey: endpoint.accessKey, secret: endpoint.secretKey, region: endpoint.region)
    }

    /// A signed request; `headers` names are lower-case. `payloadHash` is the hex SHA-256 of
    /// the body or `UNSIGNED-PAYLOAD`.
    public func request(
        _ method: HTTPMethod, bucket: String?, key: String? = nil, query: [(String, String)] = [],
        headers: [(String, String)] = [], payloadHash: String = SigV4.unsignedPayload, date: Date = Date()
    ) -> HTTPClientRequest {
        var hostHeader = host
        var path = "/"
        if let bucket {
            if endpoint.pathStyle {
                path = "/\(bucket)" + (key.map { "/" + $0 } ?? "")
            } else {
                hostHeader = "\(bucket).\(host)"
                path = "/" + (key ?? "")
            }
        }
        let queryString = SigV4.canonicalQuery(query)
        var req = HTTPClientRequest(url: "\(scheme)://\(hostHeader)\(SigV4.canonicalURI(path))" + (queryString.isEmpty ? "" : "?" + queryString))
        req.method = method
        let all = [("host", hostHeader)] + headers
        for (n, v) in headers { req.headers.add(name: n, value: v) }
        for (n, v) in signer.sign(method: method.rawValue, path: path, query: query, headers: all, payloadHash: payloadHash, date: date) {
            req.headers.add(name: n, value: v)
        }
        return req
    }

    /// Sends a request built afresh for each attempt, retrying what is retryable; returns the
    /// response when its status is in `expect`, its whole (small) body read.
    public func perform(
        expect: Set<UInt> = [200], notFoundCodes: Set<String> = ["NoSuchKey", "NoSuchUpload"],
        _ build: @Sendable () throws -> HTTPClientRequest
    ) async throws -> (HTTPClientResponse, [UInt8]) {
        try await transport.perform(expect: expect, notFoundCodes: notFoundCodes, build)
    }
}
