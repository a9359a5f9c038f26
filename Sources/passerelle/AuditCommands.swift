import ArgumentParser
import Audit
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "The tamper-evident audit log.",
        subcommands: [Verify.self, Export.self, Search.self, Checkpoint.self, Key.self, Expire.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the log end to end: every entry's place and hash, every signed checkpoint.",
            discussion:
                "Without --export, checks the log in the data directory. With --export FILE, checks an export (as an outsider would) against "
                + "--key. --trusted adds a checkpoint kept from earlier: the log must still contain it."
        )
        @OptionGroup var options: AdminOptions
        @Option(help: "An export file (JSON Lines) made by `audit export`.") var export: String?
        @Option(help: "The log's verifier key (from `audit key` or GET /audit/key); default: the data directory's.") var key: String?
        @Option(help: "A signed checkpoint saved earlier that the log must still contain.") var trusted: String?

        func run() async throws {
            let verifier: NoteVerifier
            do {
                verifier = try key.map { try NoteVerifier(encoded: $0) } ?? options.auditLog().signer.verifier
            } catch let e as NoteError { throw CommandFailure("--key: \(e.description)") }
            var v = LogVerifier(verifier: verifier)
            do {
                if let trusted {
                    guard let note = try? String(contentsOfFile: trusted, encoding: .utf8) else { throw CommandFailure("cannot read \(trusted)") }
                    try v.checkpoint(note)
                }
                if let export {
                    guard let handle = FileHandle(forReadingAtPath: export) else { throw CommandFailure("cannot read \(export)") }
                    var n = 0
                    try forEachLine(handle) { line in
                        n += 1
                        guard let parsed = try? JSONDecoder().decode(ExportLine.self, from: line) else {
                            throw CommandFailure("\(export):\(n): not an export line")
                        }
                        try parsed.feed(&v)
                    }
                } else {
                    try options.auditLog().export { try $0.feed(&v) }
                }
            } catch let e as NoteError {
                throw CommandFailure("checkpoint refused: \(e.description)")
            }
            let report = v.finish()
            if let bad = report.firstBad {
                print("FAILED: first bad index \(bad.index): \(bad.reason)")
                print("checked \(report.entries) entries before it, \(report.checkpointsVerified) checkpoints verified")
                throw ExitCode(2)
            }
            print("OK: \(report.entries) entries (\(report.expired) expired, hashes only), \(report.checkpointsVerified) signed checkpoints verified")
            if let cp = report.latest { print("latest checkpoint: size \(cp.size), root \(Data(cp.root).base64EncodedString())") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the log (checkpoints, then entries) as JSON Lines, for outside verification.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Output file (default: standard output).") var output: String?

        func run() async throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let out: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil, attributes: [.posixPermissions: 0o600]),
                    let h = FileHandle(forWritingAtPath: output)
                else { throw CommandFailure("cannot write \(output)") }
                out = h
            } else {
                out = FileHandle.standardOutput
            }
            var buffer = Data()
            try options.auditLog().export { line in
                buffer.append(try encoder.encode(line))
                buffer.append(0x0a)
                if buffer.count > 1 << 20 {
                    out.write(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            out.write(buffer)
            if output != nil { try out.close() }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Entries by user, project, dataset, action and time (JSON Lines).")
        @OptionGroup var options: AdminOptions
        @Option var user: String?
        @Option var project: String?
        @Option var dataset: String?
        @Option var action: String?
        @Option(help: "ISO 8601 time or YYYY-MM-DD.") var since: String?
        @Option(help: "ISO 8601 time or YYYY-MM-DD.") var until: String?
        @Option var limit = 1000

        func run() async throws {
            var f = AuditFilter()
            f.principal = user
            f.project = project
            f.dataset = dataset
            f.action = action
            f.since = try since.map(parseTime)
            f.until = try until.map(parseTime)
            f.limit = limit
            for e in try options.auditLog().search(f) {
                print(String(decoding: e.canonicalJSON(), as: UTF8.self))
            }
        }

        func parseTime(_ s: String) throws -> Date {
            if let d = try? Date(s, strategy: .iso8601) { return d }
            if let d = try? Date(s + "T00:00:00Z", strategy: .iso8601) { return d }
            throw CommandFailure("not an ISO 8601 time: \(s)")
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the latest signed checkpoint (save it to check the log later).")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard let note = try options.auditLog().latestCheckpoint() else { throw CommandFailure("the log is empty") }
            print(note, terminator: "")
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the log's public verifier key.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            print(try options.auditLog().signer.verifier.encoded)
        }
    }

    struct Expire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retention: delete the keys (and readable columns) of entries before a day; hashes stay, the log still verifies.")
        @OptionGroup var options: AdminOptions
        @Option(help: "First day kept (YYYY-MM-DD, UTC).") var before: String

        func run() async throws {
            guard before.count == 10, (try? Date(before + "T00:00:00Z", strategy: .iso8601)) != nil else {
                throw CommandFailure("--before: expected YYYY-MM-DD")
            }
            let gone = try options.auditLog().expire(before: before)
            try await options.audit("audit.expire", detail: "before \(before): \(gone.count) periods")
            print("shredded the keys of \(gone.count) periods: \(gone.joined(separator: ", "))")
        }
    }
}

/// Calls `body` with each line of the file, reading it 1 MiB at a time.
func forEachLine(_ handle: FileHandle, _ body: (Data) throws -> Void) throws {
    var pending = Data()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        pending.append(chunk)
        while let nl = pending.firstIndex(of: 0x0a) {
            let line = pending[pending.startIndex..<nl]
            if !line.isEmpty { try body(Data(line)) }
            pending = Data(pending[(nl + 1)...])
        }
    }
    if !pending.isEmpty { try body(pending) }
}
