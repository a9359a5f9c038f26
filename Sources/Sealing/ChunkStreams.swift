import Foundation

/// Seals one segment as its plaintext arrives, in any slicing: every full chunk is sealed as
/// soon as it is known not to be the last; the last one waits for `finish`.
public struct SegmentSealer: Sendable {
    let keys: ObjectKeys
    let segment: UInt32
    let chunks: UInt64
    let plainLength: Int64
    var pending: [UInt8] = []
    var index: UInt64 = 0
    var consumed: Int64 = 0

    public init(keys: ObjectKeys, segment: UInt32, plainLength: Int64) throws {
        guard segment <= SealedFormat.maxSegment, plainLength >= 0 else { throw SealingError.malformed("segment number or length") }
        self.keys = keys
        self.segment = segment
        self.plainLength = plainLength
        chunks = UInt64(SealedFormat.chunkCount(plainLength))
        pending.reserveCapacity(SealedFormat.chunkSize)
    }

    /// Seals what `bytes` completes; sealed bytes go to `emit`. Whole chunks are sealed straight
    /// from `bytes`; only a chunk split across calls is gathered first.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        consumed += Int64(bytes.count)
        guard consumed <= plainLength else { throw SealingError.extended }
        var at = 0
        let size = SealedFormat.chunkSize
        while at < bytes.count {
            if pending.isEmpty, bytes.count - at >= size, index < chunks - 1 {
                try keys.sealChunk(UnsafeRawBufferPointer(rebasing: bytes[at..<(at + size)]), segment: segment, index: index, last: false, emit: emit)
                index += 1
                at += size
                continue
            }
            let take = min(size - pending.count, bytes.count - at)
            pending.append(contentsOf: bytes[at..<(at + take)])
            at += take
            if pending.count == size, index < chunks - 1 {
                try pending.withUnsafeBytes { try keys.sealChunk($0, segment: segment, index: index, last: false, emit: emit) }
                pending.removeAll(keepingCapacity: true)
                index += 1
            }
        }
    }

    /// Seals the final chunk; the segment must have received exactly its declared length.
    public mutating func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard consumed == plainLength, index == chunks - 1 else { throw SealingError.truncated }
        try pending.withUnsafeBytes { try keys.sealChunk($0, segment: segment, index: index, last: true, emit: emit) }
        pending.removeAll()
        index += 1
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
        try feed(bytes) { out.append(contentsOf: $0) }
    }

    public mutating func finish(into out: inout [UInt8]) throws {
        try finish { out.append(contentsOf: $0) }
    }
}

/// Opens the sealed bytes of a `PayloadLayout.Span` as they arrive: each chunk is authenticated
/// before any of its plaintext is released, and only the span's plaintext bytes come out.
public struct PayloadOpener: Sendable {
    let keys: ObjectKeys
    var cursor: PayloadLayout.Cursor
    var current: ChunkRef?
    var pending: [UInt8] = []
    var skip: Int
    var deliver: Int64
    var sealedRemaining: Int64

    public init(keys: ObjectKeys, span: PayloadLayout.Span) {
        self.keys = keys
        cursor = span.cursor
        current = cursor.next()
        skip = span.skip
        deliver = span.plainLength
        sealedRemaining = span.sealedLength
        pending.reserveCapacity(SealedFormat.sealedChunkSize)
    }

    /// Opens what `bytes` completes; authenticated plaintext of the span goes to `emit`. Whole
    /// chunks are opened straight from `bytes`; only a chunk split across calls is gathered.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard Int64(bytes.count) <= sealedRemaining else { throw SealingError.extended }
        sealedRemaining -= Int64(bytes.count)
        var at = 0
        while at < bytes.count {
            guard let chunk = current else { throw SealingError.extended }
            let plain: Data
            if pending.isEmpty, bytes.count - at >= chunk.sealedLength {
                plain = try keys.openChunk(
                    UnsafeRawBufferPointer(rebasing: bytes[at..<(at + chunk.sealedLength)]),
                    segment: chunk.segment, index: chunk.index, last: chunk.last)
                at += chunk.sealedLength
            } else {
                let take = min(chunk.sealedLength - pending.count, bytes.count - at)
                pending.append(contentsOf: bytes[at..<(at + take)])
                at += take
                guard pending.count == chunk.sealedLength else { continue }
                plain = try pending.withUnsafeBytes { try keys.openChunk($0, segment: chunk.segment, index: chunk.index, last: chunk.last) }
                pending.removeAll(keepingCapacity: true)
            }
            let from = min(skip, plain.count)
            let upto = from + Int(min(Int64(plain.count - from), deliver))
            try plain.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[from..<upto])) }
            deliver -= Int64(upto - from)
            skip -= from
            current = cursor.next()
        }
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
        try feed(bytes) { out.append(contentsOf: $0) }
    }

    /// The span must have been received whole.
    public func finish() throws {
        guard sealedRemaining == 0, pending.isEmpty, deliver == 0 else { throw SealingError.truncated }
    }
}
