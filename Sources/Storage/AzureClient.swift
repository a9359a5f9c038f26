import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol

/// How requests to an Azure storage account are authorised.
public enum AzureCredential: Sendable {
    /// The account key: every request signed (Shared Key).
    case sharedKey(AzureSharedKey)
    /// A SAS token (account or container SAS), appended to every URL as given.
    case sas(String)
}

/// Where a storage account's Blob service is: `https://ACCOUNT.blob.core.windows.net`, or an
/// emulator's `http://host:port/ACCOUNT` (the account as the first path segment).
public struct AzureEndpoint: Sendable {
    public var url: String
    public var account: String
    public var credential: AzureCredential

    public init(url: String, account: String, credential: AzureCredential) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.account = account
        self.credential = credential
    }
}

/// Signed Blob service requests over AsyncHTTPClient, `x-ms-version` pinned.
public final class AzureClient: Sendable {
    /// The service version every request asks for (Put Blob up to 5000 MiB, blocks up to 4000 MiB).
    public static let version = "2023-11-03"

    public let endpoint: AzureEndpoint
    public let transport: HTTPTransport
    let base: String
    let basePath: String

    public init(endpoint: AzureEndpoint, transport: HTTPTransport) throws {
        let url = try ServiceURL(endpoint.url)
        self.endpoint = endpoint
        self.transport = transport
        self.base = "\(url.scheme)://\(url.authority)"
        self.basePath = url.path
    }

    /// The encoded path of a container or blob.
    func path(container: String?, blob: String?) -> String {
        var path = basePath
        if let container { path += "/" + URIEncoding.encode(container) }
        if let blob { path += "/" + URIEncoding.encode(blob, keepSlash: true) }
        return path.isEmpty ? "/" : path
    }

    /// The URL of a blob as another request names it (Copy Blob's source).
    func url(container: String, blob: String) -> String {
        var url = base + path(container: container, blob: blob)
        if case .sas(let token) = endpoint.credential { url += "?" + Self.trimmed(token) }
        return url
    }

    static func trimmed(_ token: String) -> String {
        token.hasPrefix("?") ? String(token.dropFirst()) : token
    }

    /// A signed request; `headers` names are lower-case; `query` values are not encoded yet.
    public func request(
        _ method: HTTPMethod, container: String?, blob: String? = nil, query: [(String, String)] = [],
        headers: [(String, String)] = [], date: Date = Date()
    ) -> HTTPClientRequest {
        let path = path(container: container, blob: blob)
        var parts = query.map { "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }
        if case .sas(let token) = endpoint.credential { parts.append(Self.trimmed(token)) }
        var req = HTTPClientRequest(url: base + path + (parts.isEmpty ? "" : "?" + parts.joined(separator: "&")))
        req.method = method
        let all = [("x-ms-version", Self.version), ("x-ms-date", HTTPDate.format(date))] + headers
        for (n, v) in all { req.headers.add(name: n, value: v) }
        if case .sharedKey(let key) = endpoint.credential {
            req.headers.add(name: "authorization", value: key.authorization(method: method.rawValue, path: path, query: query, headers: all))
        }
        return req
    }

    public func perform(
        expect: Set<UInt>, notFoundCodes: Set<String> = ["BlobNotFound"],
        _ build: @Sendable () throws -> HTTPClientRequest
    ) async throws -> (HTTPClientResponse, [UInt8]) {
        try await transport.perform(expect: expect, notFoundCodes: notFoundCodes, build)
    }
}

extension AzureEndpoint {
    /// The account in `https://ACCOUNT.blob.core.windows.net`, or in an emulator's
    /// `http://host:port/ACCOUNT`.
    public static func account(in endpoint: String) -> String? {
        guard let url = URL(string: endpoint), let host = url.host else { return nil }
        if host.hasSuffix(".blob.core.windows.net") { return host.split(separator: ".").first.map(String.init) }
        let first = url.path.split(separator: "/").first.map(String.init)
        return first?.isEmpty == false ? first : nil
    }
}
