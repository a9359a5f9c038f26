import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import S3Protocol

/// Streaming transfers shared by the remote stores: uploads whose body streams through,
/// downloads that resume where a broken connection left off.
extension HTTPTransport {
    /// Sends `request` with `body` streamed through, its tail held back until the source ends
    /// cleanly (not retried: the bytes are gone). Fails unless the status is `expect`.
    public func sendStreamed<Body: AsyncSequence & Sendable>(
        _ request: HTTPClientRequest, body: Body, length: Int64,
        expect: HTTPResponseStatus
    ) async throws -> HTTPClientResponse
    where Body.Element == ByteBuffer {
        let errors = ErrorBox()
        var req = request
        req.body = .stream(HeldBackBody(base: body, errors: errors), length: .known(length))
        let response = try await send(req, bodyError: errors)
        let text = try await Self.collect(response)
        guard response.status == expect else { throw Self.failure(response, body: text, notFoundCodes: []) }
        return response
    }

    /// The response of one GET attempt, if it carries the object (200, 206); a 412 means the
    /// object is not the version asked for.
    public static func readable(_ response: HTTPClientResponse, name: String, notFoundCodes: Set<String>) async throws -> HTTPClientResponse {
        if response.status == .ok || response.status == .partialContent { return response }
        let body = try await collect(response)
        if response.status == .preconditionFailed { throw StoreError.changed(name) }
        throw failure(response, body: body, notFoundCodes: notFoundCodes)
    }

    /// Opens an object (or a range of it) with `fetch`, one GET attempt of bytes
    /// `from…through` pinned to an ETag: the first attempt is retried; a stream that breaks
    /// later resumes where it stopped, from the same version of the object.
    public func openResuming(
        name: String, range: ByteRange?, ifMatch: String?,
        fetch: @escaping @Sendable (_ from: Int64, _ through: Int64?, _ ifMatch: String?) async throws -> HTTPClientResponse
    )
        async throws -> BlobStream
    {
        let start = range?.start ?? 0
        let first = try await settings.retry.run { _ in try await fetch(start, range?.end, ifMatch) }
        let etag = ifMatch ?? first.headers.first(name: "etag")
        let length: Int64
        if let range {
            length = range.length
        } else {
            guard let cl = first.headers.first(name: "content-length").flatMap({ Int64($0) }) else {
                throw StoreError.unavailable("GET \(name): no Content-Length")
            }
            length = cl
        }
        // One attempt per resumption: the reader itself retries, with backoff.
        let reader = ResumingReader(first: first, start: start, length: length, retry: settings.retry) { offset in
            try await fetch(offset, start + length - 1, etag)
        }
        return BlobStream(length: length) { try await reader.next() }
    }
}

/// Reads a GET response body and, when the connection breaks before the promised length,
/// asks `resume` for the rest (a ranged GET pinned to the same ETag) a few times.
final class ResumingReader: @unchecked Sendable {
    // @unchecked: `next()` is only called by the one task iterating the BlobStream, each call
    // awaited before the next, so the mutable fields are never touched concurrently.
    private var iterator: HTTPClientResponse.Body.AsyncIterator?
    private var offset: Int64
    private var failures = 0
    private let end: Int64
    private let retry: RetryPolicy
    private let resume: @Sendable (Int64) async throws -> HTTPClientResponse

    init(
        first: HTTPClientResponse, start: Int64, length: Int64, retry: RetryPolicy,
        resume: @escaping @Sendable (Int64) async throws -> HTTPClientResponse
    ) {
        self.iterator = first.body.makeAsyncIterator()
        self.offset = start
        self.end = start + length
        self.retry = retry
        self.resume = resume
    }

    func next() async throws -> ByteBuffer? {
        while offset < end {
            do {
                var it: HTTPClientResponse.Body.AsyncIterator
                if let current = iterator { it = current } else { it = try await resume(offset).body.makeAsyncIterator() }
                iterator = it
                guard let chunk = try await it.next() else {
                    throw StoreError.unavailable("response ended \(end - offset) bytes early")
                }
                iterator = it
                offset += Int64(chunk.readableBytes)
                return chunk
            } catch {
                if error is CancellationError { throw error }
                if let e = error as? StoreError, case .changed = e { throw e }
                iterator = nil
                failures += 1
                if failures >= retry.attempts { throw error as? StoreError ?? StoreError.unavailable("reading: \(error)") }
                try await Task.sleep(for: retry.delay(beforeRetry: failures - 1, random: Double.random(in: 0..<1)))
            }
        }
        return nil
    }
}
