import NIOCore

/// Decodes an `aws-chunked` body (AWS "Signature Version 4: streaming uploads") as a pure
/// state machine: feed it bytes in any split, it returns events; it does no I/O and no crypto.
///
/// Framing: `hex-size[;chunk-signature=sig]\r\n data \r\n` … `0[;chunk-signature=sig]\r\n`,
/// then optional trailer lines `name:value\r\n` (the last may be `x-amz-trailer-signature:sig`),
/// then an empty line `\r\n`.
public struct AWSChunkedDecoder: Sendable {
    public enum Event: Sendable, Equatable {
        /// A chunk header: its declared size and, for signed streams, its signature.
        case chunkStart(size: Int, signature: String?)
        /// Payload bytes of the current chunk (a chunk may arrive in several pieces).
        case data(ByteBuffer)
        /// The current chunk's payload and its CRLF are complete (for the final, empty chunk:
        /// right after its header, before any trailer).
        case chunkEnd
        /// A trailer header, name lower-cased, value trimmed.
        case trailer(name: String, value: String)
        /// The whole body, including trailers, is complete.
        case end
    }

    public enum DecodeError: Error, Sendable, Equatable {
        case malformedChunkHeader
        case chunkTooLarge
        case missingCRLF
        case malformedTrailer
        case tooManyTrailers
        case dataAfterEnd
        case truncated
    }

    enum State: Sendable {
        case header
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailers
        case done
    }

    /// Longest chunk-header or trailer line accepted (a signed header is ~90 bytes).
    public static let maxLineLength = 4096
    /// AWS caps a chunk well below this; anything larger is hostile.
    public static let maxChunkSize = 1 << 30
    public static let maxTrailers = 16

    private var state: State = .header
    private var line: [UInt8] = []
    private var trailerCount = 0

    public init() {}

    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes `input` entirely; the returned events are in stream order.
    public mutating func feed(_ input: ByteBuffer) throws(DecodeError) -> [Event] {
        var input = input
        var events: [Event] = []
        while input.readableBytes > 0 {
            switch state {
            case .header:
                guard let l = try takeLine(&input) else { continue }
                let (size, sig) = try Self.parseChunkHeader(l)
                events.append(.chunkStart(size: size, signature: sig))
                if size == 0 {
                    // The final chunk has no payload and no CRLF of its own: trailers follow.
                    events.append(.chunkEnd)
                    state = .trailers
                } else {
                    state = .data(remaining: size)
                }
            case .data(let remaining):
                let n = min(remaining, input.readableBytes)
                if let slice = input.readSlice(length: n) { events.append(.data(slice)) }
                state = remaining - n == 0 ? .dataCR : .data(remaining: remaining - n)
            case .dataCR:
                guard input.readInteger(as: UInt8.self) == UInt8(ascii: "\r") else { throw .missingCRLF }
                state = .dataLF
            case .dataLF:
                guard input.readInteger(as: UInt8.self) == UInt8(ascii: "\n") else { throw .missingCRLF }
                events.append(.chunkEnd)
                state = .header
            case .trailers:
                guard let l = try takeLine(&input) else { continue }
                if l.isEmpty {
                    events.append(.end)
                    state = .done
                } else {
                    trailerCount += 1
                    guard trailerCount <= Self.maxTrailers else { throw .tooManyTrailers }
                    guard let colon = l.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { throw .malformedTrailer }
                    let name = String(decoding: l[..<colon], as: UTF8.self).lowercased()
                    let value = String(decoding: l[(colon + 1)...], as: UTF8.self).trimmingSpaces()
                    events.append(.trailer(name: name, value: value))
                }
            case .done:
                throw .dataAfterEnd
            }
        }
        return events
    }

    /// Call at end of input: throws unless the body was complete.
    public func finish() throws(DecodeError) {
        guard isComplete else { throw .truncated }
    }

    /// Accumulates bytes up to CRLF; returns the line without CRLF, or nil if more input is needed.
    private mutating func takeLine(_ input: inout ByteBuffer) throws(DecodeError) -> [UInt8]? {
        let view = input.readableBytesView
        if let lf = view.firstIndex(of: UInt8(ascii: "\n")) {
            let count = lf - view.startIndex + 1
            line.append(contentsOf: view[view.startIndex..<lf])
            input.moveReaderIndex(forwardBy: count)
            guard line.last == UInt8(ascii: "\r") else { throw lineError }
            line.removeLast()
            defer { line.removeAll(keepingCapacity: true) }
            guard line.count <= Self.maxLineLength else { throw lineError }
            return line
        }
        line.append(contentsOf: view)
        input.moveReaderIndex(forwardBy: view.count)
        guard line.count <= Self.maxLineLength else { throw lineError }
        return nil
    }

    private var lineError: DecodeError {
        if case .trailers = state { return .malformedTrailer }
        return .malformedChunkHeader
    }

    static func parseChunkHeader(_ line: [UInt8]) throws(DecodeError) -> (Int, String?) {
        var fields = line.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        let sizeField = fields.removeFirst()
        guard !sizeField.isEmpty, sizeField.count <= 16 else { throw .malformedChunkHeader }
        var size = 0
        for c in sizeField {
            let v: Int
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = Int(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = Int(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = Int(c - UInt8(ascii: "A") + 10)
            default: throw .malformedChunkHeader
            }
            size = size * 16 + v
            guard size <= maxChunkSize else { throw .chunkTooLarge }
        }
        var signature: String?
        for f in fields {
            let text = String(decoding: f, as: UTF8.self)
            if text.hasPrefix("chunk-signature=") {
                let sig = String(text.dropFirst("chunk-signature=".count))
                guard sig.utf8.count == 64, Hex.decode(sig) != nil else { throw .malformedChunkHeader }
                signature = sig.lowercased()
            }
        }
        return (size, signature)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
