import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import S3Protocol
import TLSPolicy

/// Connection settings shared by the remote stores.
public struct HTTPSettings: Sendable {
    public var connectTimeout: Duration
    /// Longest silence while a response is awaited or streamed.
    public var readTimeout: Duration
    /// PEM file of trusted CAs for an HTTPS endpoint (a sovereign cloud's private CA).
    public var caBundle: String?
    public var retry: RetryPolicy

    public init(
        connectTimeout: Duration = .seconds(5), readTimeout: Duration = .seconds(60), caBundle: String? = nil,
        retry: RetryPolicy = RetryPolicy()
    ) {
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.caBundle = caBundle
        self.retry = retry
    }
}

/// A service's base URL, checked: `http(s)://host[:port][/path]`.
struct ServiceURL: Sendable {
    let scheme: String
    /// `host[:port]`.
    let authority: String
    /// The path below which the service lives, without a trailing slash ("" for the root).
    let path: String

    init(_ text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme, scheme == "http" || scheme == "https", let host = url.host else {
            throw StoreError.rejected(status: 0, code: "InvalidEndpoint", message: "\(text) is not an http(s) URL")
        }
        self.scheme = scheme
        self.authority = url.port.map { "\(host):\($0)" } ?? host
        self.path = url.path == "/" ? "" : url.path
    }
}

/// One HTTP client per backend, with failures sorted into "retry later" and "refused".
public final class HTTPTransport: Sendable {
    public let client: HTTPClient
    public let settings: HTTPSettings

    public init(settings: HTTPSettings) {
        var tls = TLSPolicy.client()
        if let ca = settings.caBundle { tls.trustRoots = .file(ca) }
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: Self.timeAmount(settings.connectTimeout), read: Self.timeAmount(settings.readTimeout)))
        config.decompression = .disabled
        config.redirectConfiguration = .disallow
        config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        // A refused connection must fail the request at once (our RetryPolicy decides what
        // happens next); by default the pool keeps reconnecting until the request's deadline.
        config.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.settings = settings
    }

    static func timeAmount(_ d: Duration) -> TimeAmount {
        .milliseconds(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Sends a request; a transport failure (refused, reset, timeout) becomes `.unavailable`.
    /// The deadline is generous: the read timeout bounds silences, not transfers.
    public func send(_ request: HTTPClientRequest, bodyError: ErrorBox? = nil) async throws -> HTTPClientResponse {
        do {
            return try await client.execute(request, deadline: .now() + .hours(6))
        } catch {
            if let e = bodyError?.error { throw e }
            throw Self.transportError(error, request.url)
        }
    }

    /// Sends a request built afresh for each attempt, retrying what is retryable; returns the
    /// response when its status is in `expect`, its whole (small) body read.
    public func perform(
        expect: Set<UInt>, notFoundCodes: Set<String>,
        _ build: @Sendable () throws -> HTTPClientRequest
    ) async throws -> (HTTPClientResponse, [UInt8]) {
        try await settings.retry.run { _ in
            let response = try await send(try build())
            let body = try await Self.collect(response)
            guard expect.contains(response.status.code) else {
                throw Self.failure(response, body: body, notFoundCodes: notFoundCodes)
            }
            return (response, body)
        }
    }

    static func transportError(_ error: any Error, _ url: String) -> any Error {
        if error is CancellationError { return error }
        return StoreError.unavailable("\(url.split(separator: "?").first ?? ""): \(error)")
    }

    /// Reads a small response body whole (XML results and errors).
    public static func collect(_ response: HTTPClientResponse, limit: Int = 4 << 20) async throws -> [UInt8] {
        do {
            let buffer = try await response.body.collect(upTo: limit)
            return Array(buffer: buffer)
        } catch {
            throw StoreError.unavailable("reading the response: \(error)")
        }
    }

    /// The `StoreError` for a failed response: 5xx, 429 and throttling codes are worth a retry;
    /// anything else is a refusal an operator must look at. S3 and Azure both answer
    /// `<Error><Code>…</Code><Message>…</Message></Error>`.
    public static func failure(_ response: HTTPClientResponse, body: [UInt8], notFoundCodes: Set<String> = []) -> StoreError {
        let status = Int(response.status.code)
        var code = response.headers.first(name: "x-ms-error-code") ?? ""
        var message = ""
        if let xml = try? XMLTree.parse(body) {
            if code.isEmpty { code = xml.child("Code")?.text ?? "" }
            message = xml.child("Message")?.text ?? ""
        }
        if code.isEmpty { code = response.status.reasonPhrase }
        let retryable: Set<String> = ["SlowDown", "RequestTimeout", "ServerBusy", "OperationTimedOut", "InternalError", "ServiceUnavailable"]
        if status >= 500 || status == 429 || retryable.contains(code) {
            return .unavailable("\(status) \(code) \(message)")
        }
        if status == 404 && (notFoundCodes.isEmpty || notFoundCodes.contains(code)) {
            return .notFound(code)
        }
        return .rejected(status: status, code: code, message: message)
    }
}

/// The first error a request body threw, so the caller's error (a bad checksum, a short
/// upload) wins over the transport's report of the aborted request.
public final class ErrorBox: Sendable {
    private let value = NIOLockedValueBox<(any Error)?>(nil)
    public init() {}
    public var error: (any Error)? { value.withLockedValue { $0 } }
    func record(_ error: any Error) { value.withLockedValue { if $0 == nil { $0 = error } } }
}
