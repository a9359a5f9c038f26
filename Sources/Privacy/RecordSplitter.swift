/// Finds where complete records end in CSV or JSON Lines bytes without parsing their fields,
/// so a large source can be cut into blocks that views transform in parallel: a line end
/// outside RFC 4180 quotes ends a CSV record, every LF a JSON line. It counts lines as the
/// readers do, so errors in a block still name the line of the whole file.
public struct RecordSplitter: Sendable {
    let csv: Bool
    /// The line the next block starts on.
    public private(set) var line = 1

    public init(format: ViewSpec.Format) {
        csv = format == .csv
    }

    /// The length of the longest prefix of `bytes` made of complete records (0: none yet);
    /// `line` moves to the line after it. The rest is to be offered again with what follows.
    public mutating func cut(_ bytes: UnsafeRawBufferPointer) -> Int {
        let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r"), quote = UInt8(ascii: "\"")
        var quoted = false
        var lines = line
        var boundary = 0
        var boundaryLine = line
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if csv, b == quote {
                quoted.toggle()
            } else if b == lf {
                lines += 1
                if !quoted {
                    boundary = i + 1
                    boundaryLine = lines
                }
            } else if csv, b == cr, !quoted {
                // CRLF is one line end; a CR last in the buffer waits for what follows it.
                guard i + 1 < bytes.count else { break }
                lines += 1
                if bytes[i + 1] == lf { i += 1 }
                boundary = i + 1
                boundaryLine = lines
            }
            i += 1
        }
        line = boundaryLine
        return boundary
    }
}

extension ViewEngine {
    /// An engine for a block of records that starts on `line`, after the records this one has
    /// read (its header included): same view, fresh counts, no header written.
    public func block(startingAt line: Int) -> ViewEngine {
        var e = self
        e.reader.resume(at: line)
        e.reader.rows = 0
        e.reader.seen = []
        e.transform.counts = .init()
        e.wroteHeader = true
        return e
    }

    /// Continues, counts kept, at the record boundary on `line` (after blocks other engines read).
    public mutating func resume(at line: Int) {
        reader.resume(at: line)
    }

    /// Adds the counts of a block's engine (and, for JSON Lines, the columns its lines had).
    public mutating func absorb(_ block: ViewEngine) {
        reader.absorb(block.reader)
        transform.counts.read += block.counts.read
        transform.counts.served += block.counts.served
        transform.counts.optedOut += block.counts.optedOut
        transform.counts.filtered += block.counts.filtered
    }
}
