import ArgumentParser
import Crypto
import Foundation
import Privacy

/// The view transform alone, on a local file, single-threaded: the CPU cost a view adds to a
/// read, without I/O, sealing or HTTP (for profiling and for the per-stage figures).
struct BenchView: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "view", abstract: "Run a view over a local CSV or JSON Lines file.")
    @Argument(help: "The source file.") var source: String
    @Option(help: "The view file (YAML).") var view: String
    @Option(help: "Opt-out identifiers, one a line.") var optout: String?
    @Option(help: "Write the output here (default: discarded).") var output: String?

    func run() async throws {
        guard let text = FileManager.default.contents(atPath: view).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw CommandFailure("cannot read \(view)")
        }
        let spec = try ViewSpec.parse(text)
        let secret = SymmetricKey(size: .bits256)
        let optKey = PseudonymKeys.optOutKey(secret: secret)
        var hashes: [Data] = []
        if let optout, let ids = FileManager.default.contents(atPath: optout).flatMap({ String(data: $0, encoding: .utf8) }) {
            hashes = ids.split(whereSeparator: \.isNewline).compactMap { OptOutFilter.entry(String($0), key: optKey) }
        }
        var engine = ViewEngine(
            spec: spec, keys: PseudonymKeys(secret: secret, project: "bench", epoch: 1, dataset: nil),
            optOut: OptOutFilter(key: optKey, hashes: hashes))
        guard let input = FileHandle(forReadingAtPath: source) else { throw CommandFailure("cannot open \(source)") }
        let sink = output.flatMap { FileManager.default.createFile(atPath: $0, contents: nil) ? FileHandle(forWritingAtPath: $0) : nil }
        let start = ContinuousClock.now
        var read = 0
        var written = 0
        var out: [UInt8] = []
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            read += chunk.count
            try engine.feed(chunk, into: &out)
            written += out.count
            try sink?.write(contentsOf: out)
            out.removeAll(keepingCapacity: true)
        }
        try engine.finish(into: &out)
        written += out.count
        try sink?.write(contentsOf: out)
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        let c = engine.counts
        print(
            "{\"read_bytes\": \(read), \"written_bytes\": \(written), \"seconds\": \(seconds), \"mb_s\": \(Double(read) / 1e6 / seconds), "
                + "\"rows_read\": \(c.read), \"rows_served\": \(c.served), \"rows_opted_out\": \(c.optedOut)}")
    }
}
