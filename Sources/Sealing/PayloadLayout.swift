/// One segment of a payload: its number (0 for a single PUT, the part number for a multipart
/// upload) and its plaintext size.
public struct Segment: Sendable, Equatable, Codable {
    public var number: UInt32
    public var size: Int64

    public init(number: UInt32, size: Int64) {
        self.number = number
        self.size = size
    }
}

/// A chunk of a payload: where it sits and how it is sealed.
public struct ChunkRef: Sendable, Equatable {
    public var segment: UInt32
    public var index: UInt64
    public var last: Bool
    /// Plaintext bytes in the chunk; the sealed chunk is 16 bytes longer.
    public var plainLength: Int
    public var sealedLength: Int { plainLength + SealedFormat.tagSize }
}

/// The chunks of a payload, from its segment manifest: how plaintext offsets map to sealed ones.
public struct PayloadLayout: Sendable, Equatable {
    public let segments: [Segment]

    public init(segments: [Segment]) {
        self.segments = segments
    }

    public var plaintextSize: Int64 { segments.reduce(0) { $0 + $1.size } }
    public var sealedSize: Int64 { segments.reduce(0) { $0 + SealedFormat.sealedLength($1.size) } }

    /// What to read to serve plaintext bytes `first...last`: the sealed byte range (inclusive),
    /// the chunks in it, and how many plaintext bytes to drop from the first chunk.
    public func span(first: Int64, last: Int64) -> Span? {
        guard first >= 0, first <= last, last < plaintextSize else { return nil }
        var plainBase: Int64 = 0, sealedBase: Int64 = 0
        for (i, seg) in segments.enumerated() {
            if first < plainBase + seg.size {
                let offset = first - plainBase
                let index = offset / Int64(SealedFormat.chunkSize)
                let start = sealedBase + index * Int64(SealedFormat.sealedChunkSize)
                return Span(
                    sealedFirst: start, sealedLast: sealedEnd(containing: last),
                    skip: Int(offset - index * Int64(SealedFormat.chunkSize)), plainLength: last - first + 1,
                    cursor: Cursor(layout: self, segmentPosition: i, index: UInt64(index)))
            }
            plainBase += seg.size
            sealedBase += SealedFormat.sealedLength(seg.size)
        }
        return nil
    }

    /// The whole payload (an empty object is one empty chunk).
    public func whole() -> Span {
        Span(
            sealedFirst: 0, sealedLast: sealedSize - 1, skip: 0, plainLength: plaintextSize,
            cursor: Cursor(layout: self, segmentPosition: 0, index: 0))
    }

    /// The last sealed byte of the chunk holding plaintext offset `offset`.
    private func sealedEnd(containing offset: Int64) -> Int64 {
        var plainBase: Int64 = 0, sealedBase: Int64 = 0
        for seg in segments {
            if offset < plainBase + seg.size {
                let index = (offset - plainBase) / Int64(SealedFormat.chunkSize)
                let chunkPlain = min(Int64(SealedFormat.chunkSize), seg.size - index * Int64(SealedFormat.chunkSize))
                return sealedBase + index * Int64(SealedFormat.sealedChunkSize) + chunkPlain + Int64(SealedFormat.tagSize) - 1
            }
            plainBase += seg.size
            sealedBase += SealedFormat.sealedLength(seg.size)
        }
        return sealedSize - 1
    }

    /// A read plan: sealed bytes to fetch and the chunks they hold.
    public struct Span: Sendable {
        public let sealedFirst: Int64
        public let sealedLast: Int64
        /// Plaintext bytes to drop from the first chunk.
        public let skip: Int
        /// Plaintext bytes to deliver.
        public let plainLength: Int64
        public let cursor: Cursor
        public var sealedLength: Int64 { sealedLast - sealedFirst + 1 }
    }

    /// Walks chunks in payload order, crossing segment boundaries.
    public struct Cursor: Sendable {
        let layout: PayloadLayout
        var segmentPosition: Int
        var index: UInt64

        public mutating func next() -> ChunkRef? {
            while segmentPosition < layout.segments.count {
                let seg = layout.segments[segmentPosition]
                let count = UInt64(SealedFormat.chunkCount(seg.size))
                if index < count {
                    let start = Int64(index) * Int64(SealedFormat.chunkSize)
                    let length = Int(min(Int64(SealedFormat.chunkSize), seg.size - start))
                    defer { index += 1 }
                    return ChunkRef(segment: seg.number, index: index, last: index == count - 1, plainLength: length)
                }
                segmentPosition += 1
                index = 0
            }
            return nil
        }
    }
}
