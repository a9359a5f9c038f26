import Crypto
import Foundation
import NIOCore

/// Passes a request body through to a backend, always keeping the latest buffer back until
/// the source has ended cleanly. The source (the gateway's verifying body) throws at its end
/// when a checksum or length check fails; holding the tail back means the backend then sees
/// a body shorter than its Content-Length and stores nothing, rather than a complete object.
/// The source's error is recorded in `errors` so it can win over the transport's report.
struct HeldBackBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let errors: ErrorBox

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let errors: ErrorBox
        var held: ByteBuffer?
        var done = false

        mutating func next() async throws -> ByteBuffer? {
            while !done {
                let next: ByteBuffer?
                do {
                    next = try await base.next()
                } catch {
                    errors.record(error)
                    throw error
                }
                guard let next else {
                    done = true
                    break
                }
                if next.readableBytes == 0 { continue }
                if let out = held {
                    held = next
                    return out
                }
                held = next
            }
            defer { held = nil }
            return held
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), errors: errors)
    }
}

/// Reads a body whole; for the small objects a store buffers so it can retry them.
public func collectBody<Body: AsyncSequence & Sendable>(_ body: Body, length: Int64) async throws -> ByteBuffer where Body.Element == ByteBuffer {
    var all = ByteBuffer()
    all.reserveCapacity(Int(length))
    for try await var chunk in body { all.writeBuffer(&chunk) }
    guard all.readableBytes == Int(length) else {
        throw StoreError.io("body of \(all.readableBytes) bytes, \(length) expected")
    }
    return all
}

func md5(_ buffer: ByteBuffer) -> [UInt8] {
    buffer.withUnsafeReadableBytes { Array(Insecure.MD5.hash(data: $0)) }
}

/// The `Content-MD5` header (S3 and Azure alike) carrying `digest`.
func contentMD5Header(_ digest: [UInt8]) -> (String, String) {
    ("content-md5", Data(digest).base64EncodedString())
}

/// Uploads a body as parts of `partSize` bytes, at most `parallelism` in flight. Each part is
/// a buffer, so `putPart` may retry it. Memory: (parallelism + 1) × partSize.
enum PartedUpload {
    static func run<Body: AsyncSequence & Sendable>(
        body: Body, length: Int64, partSize: Int, parallelism: Int,
        putPart: @escaping @Sendable (Int, ByteBuffer) async throws -> PartToken
    ) async throws -> [PartToken] where Body.Element == ByteBuffer {
        try await withThrowingTaskGroup(of: PartToken.self) { group in
            var tokens: [PartToken] = []
            var inFlight = 0
            var number = 0
            var current = ByteBuffer()
            var total: Int64 = 0
            func launch(_ part: ByteBuffer) async throws {
                if inFlight == max(1, parallelism), let done = try await group.next() {
                    tokens.append(done)
                    inFlight -= 1
                }
                number += 1
                let n = number
                group.addTask { try await putPart(n, part) }
                inFlight += 1
            }
            for try await var chunk in body {
                total += Int64(chunk.readableBytes)
                while chunk.readableBytes > 0 {
                    if current.capacity == 0 { current.reserveCapacity(partSize) }
                    let take = min(chunk.readableBytes, partSize - current.readableBytes)
                    if var slice = chunk.readSlice(length: take) { current.writeBuffer(&slice) }
                    if current.readableBytes == partSize {
                        try await launch(current)
                        current = ByteBuffer()
                    }
                }
            }
            guard total == length else { throw StoreError.io("body of \(total) bytes, \(length) expected") }
            if current.readableBytes > 0 || number == 0 { try await launch(current) }
            while let done = try await group.next() { tokens.append(done) }
            return tokens.sorted { $0.number < $1.number }
        }
    }
}

/// A body made of buffers already in memory.
public struct BufferSequence: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let buffers: [ByteBuffer]

    public init(_ buffers: ByteBuffer...) {
        self.buffers = buffers
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var rest: ArraySlice<ByteBuffer>
        public mutating func next() async -> ByteBuffer? { rest.popFirst() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: buffers[...]) }
}
