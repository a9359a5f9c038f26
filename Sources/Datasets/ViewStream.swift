import NIOCore
import Privacy

/// A view computed over a source stream on every core: the source is cut into blocks of
/// whole records (`RecordSplitter`), the first (with the header) read by the main engine, the
/// others transformed in parallel by copies of it and their outputs emitted in order; the
/// last, incomplete part and the end checks go back to the main engine.
struct ViewStream {
    static let block = 1 << 20
    static let inFlight = 3

    var engine: ViewEngine

    /// Runs the view over `source`, handing the output to `emit` in order, in pieces.
    mutating func run<Source: AsyncSequence & Sendable>(
        _ source: Source, format: ViewSpec.Format, emit: ([UInt8]) async throws -> Void
    ) async throws where Source.Element == ByteBuffer {
        var splitter = RecordSplitter(format: format)
        var pending: [UInt8] = []
        var started = false
        var main = engine
        try await withThrowingTaskGroup(of: (Int, [UInt8], ViewEngine).self) { group in
            var next = 0
            var flushed = 0
            var done: [Int: ([UInt8], ViewEngine)] = [:]
            func drain(below limit: Int) async throws {
                while next - flushed > limit {
                    if let (i, out, e) = try await group.next() { done[i] = (out, e) }
                    while let (out, e) = done.removeValue(forKey: flushed) {
                        main.absorb(e)
                        try await emit(out)
                        flushed += 1
                    }
                }
            }
            for try await buffer in source {
                pending.append(contentsOf: buffer.readableBytesView)
                guard pending.count >= Self.block else { continue }
                let line = splitter.line
                let n = pending.withUnsafeBytes { splitter.cut($0) }
                guard n > 0 else {
                    guard pending.count <= CSVParser.maxRecordBytes + Self.block else {
                        throw PrivacyError(line: line, "record longer than \(CSVParser.maxRecordBytes >> 20) MiB")
                    }
                    continue
                }
                let records = Array(pending[0..<n])
                pending.removeFirst(n)
                guard started else {
                    // The header (and the first records) set the main engine up.
                    var out: [UInt8] = []
                    try main.feed(records, into: &out)
                    try await emit(out)
                    started = true
                    continue
                }
                let block = main.block(startingAt: line)
                let index = next
                next += 1
                group.addTask {
                    var e = block
                    var out: [UInt8] = []
                    try e.feed(records, into: &out)
                    return (index, out, e)
                }
                try await drain(below: Self.inFlight)
            }
            try await drain(below: 0)
        }
        var out: [UInt8] = []
        if started { main.resume(at: splitter.line) }
        try main.feed(pending, into: &out)
        try main.finish(into: &out)
        try await emit(out)
        engine = main
    }
}
