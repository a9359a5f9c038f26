import ArgumentParser
import Audit
import Crypto
import Foundation

/// The audit log alone: entries per second by batch size (each batch one durable, signed
/// transaction), and what one checkpoint signature costs, on a scratch log.
struct BenchAudit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Audit log appends per second by batch size.")
    @Option var entries = 4000
    @Option(help: "Comma-separated batch sizes.") var batches = "1,4,16,64"

    func run() async throws {
        var results: [String: Double] = [:]
        for size in batches.split(separator: ",").compactMap({ Int($0) }) where size > 0 {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-bench-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let log = try AuditLog(directory: dir)
            let event = AuditEvent(
                time: Date(), principal: "bench", project: "p", action: "GetObject", dataset: "d", key: "k",
                bytes: 4096, result: "allowed", status: 200, requestID: "0123456789ABCDEF", source: "127.0.0.1")
            let start = ContinuousClock.now
            var done = 0
            while done < entries {
                try log.append(Array(repeating: event, count: min(size, entries - done)))
                done += size
            }
            let seconds = Self.seconds(ContinuousClock.now - start)
            results["entries_per_s_batch_\(size)"] = Double(entries) / seconds
            results["ms_per_batch_\(size)"] = seconds * 1000 / Double((entries + size - 1) / size)
        }
        let key = P256.Signing.PrivateKey()
        let start = ContinuousClock.now
        for i in 0..<1000 { _ = try key.signature(for: Data("checkpoint \(i)\n".utf8)) }
        results["ecdsa_sign_us"] = Self.seconds(ContinuousClock.now - start) * 1000
        let data = try JSONSerialization.data(withJSONObject: results.mapValues { ($0 * 100).rounded() / 100 }, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
