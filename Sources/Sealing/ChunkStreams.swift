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

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
        consumed += Int64(bytes.count)
        guard consumed <= plainLength else { throw SealingError.extended }
        var rest = bytes[...]
        while !rest.isEmpty {
            let take = min(SealedFormat.chunkSize - pending.count, rest.count)
            pending.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            if pending.count == SealedFormat.chunkSize, index < chunks - 1 {
                try pending.withUnsafeBytes { try keys.sealChunk($0, segment: segment, index: index, last: false, into: &out) }
                pending.removeAll(keepingCapacity: true)
                index += 1
            }
        }
    }

    /// Seals the final chunk; the segment must have received exactly its declared length.
    public mutating func finish(into out: inout [UInt8]) throws {
        guard consumed == plainLength, index == chunks - 1 else { throw SealingError.truncated }
        try pending.withUnsafeBytes { try keys.sealChunk($0, segment: segment, index: index, last: true, into: &out) }
        pending.removeAll()
        index += 1
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

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
        guard Int64(bytes.count) <= sealedRemaining else { throw SealingError.extended }
        sealedRemaining -= Int64(bytes.count)
        var rest = bytes[...]
        while !rest.isEmpty {
            guard let chunk = current else { throw SealingError.extended }
            let take = min(chunk.sealedLength - pending.count, rest.count)
            pending.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            guard pending.count == chunk.sealedLength else { continue }
            let plain = try pending.withUnsafeBytes { try keys.openChunk($0, segment: chunk.segment, index: chunk.index, last: chunk.last) }
            pending.removeAll(keepingCapacity: true)
            let from = min(skip, plain.count)
            let upto = from + Int(min(Int64(plain.count - from), deliver))
            out.append(contentsOf: plain[from..<upto])
            deliver -= Int64(upto - from)
            skip -= from
            current = cursor.next()
        }
    }

    /// The span must have been received whole.
    public func finish() throws {
        guard sealedRemaining == 0, pending.isEmpty, deliver == 0 else { throw SealingError.truncated }
    }
}
