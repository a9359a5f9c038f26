import Foundation
import Testing

@testable import Audit

@Suite("Anomaly rules")
struct SupervisionTests {
    static var rules: SupervisionRules {
        var r = SupervisionRules()
        r.windowSeconds = 60
        r.downloadMinObjects = 50
        r.downloadMinBytes = 1 << 40
        r.downloadFactor = 5
        r.authFailures = 5
        r.datasets = 4
        return r
    }

    static func get(_ who: String, _ t: Double, dataset: String = "d1", project: String? = "p") -> AuditEvent {
        AuditEvent(
            time: Date(timeIntervalSince1970: t), principal: who, project: project, action: "GetObject", dataset: dataset,
            bytes: 1000, result: "allowed")
    }

    @Test("a mass download fires once; ordinary reads and a steady heavy reader's usual volume do not")
    func massDownload() {
        var s = Supervisor(rules: Self.rules)
        let t0 = 1_800_000_000.0
        var fired: [Anomaly] = []
        for i in 0..<30 { fired += s.observe(Self.get("alice", t0 + Double(i))) }
        #expect(fired.isEmpty)
        for i in 0..<200 { fired += s.observe(Self.get("bob", t0 + Double(i) * 0.1)) }
        #expect(fired.map(\.rule) == [.massDownload] && fired.first?.principal == "bob")
        // bob goes on reading 60 objects a minute (above the floor, below 5× his baseline of
        // about 40 after the burst): no firing; then 400 in a minute, far above it: one.
        fired = []
        for w in 1...12 {
            for i in 0..<60 { fired += s.observe(Self.get("bob", t0 + Double(w) * 60 + Double(i) * 0.5)) }
        }
        #expect(fired.isEmpty)
        for i in 0..<400 { fired += s.observe(Self.get("bob", t0 + 13 * 60 + Double(i) * 0.1)) }
        #expect(fired.map(\.rule) == [.massDownload])
    }

    @Test("authentication failures, many datasets and off-hours access")
    func otherRules() {
        var s = Supervisor(rules: Self.rules)
        let t0 = 1_800_000_000.0
        var fired: [Anomaly] = []
        for i in 0..<7 {
            fired += s.observe(
                AuditEvent(
                    time: Date(timeIntervalSince1970: t0 + Double(i)), principal: "mallory", action: "login",
                    result: "denied", source: "10.0.0.9", detail: "wrong password"))
        }
        #expect(Set(fired.map(\.principal)) == ["mallory", "source 10.0.0.9"] && fired.allSatisfy { $0.rule == .authFailures })
        fired = []
        for (i, d) in ["a", "b", "c", "d", "e"].enumerated() { fired += s.observe(Self.get("carol", t0 + Double(i), dataset: d)) }
        #expect(fired.map(\.rule) == [.manyDatasets])
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        fired = s.observe(Self.get("dave", t0), hours: 9..<17)
        #expect(fired.map(\.rule) == [.offHours])
        #expect(s.observe(Self.get("erin", t0 + 3600), hours: 9..<17).isEmpty)
    }

    @Test("a flood of fresh names keeps the rules' memory bounded, and prunes seldom")
    func freshNames() {
        var s = Supervisor(rules: Self.rules)
        let t0 = 1_800_000_000.0
        for i in 0..<(Supervisor.capacity + 10) {
            _ = s.observe(
                AuditEvent(
                    time: Date(timeIntervalSince1970: t0 + Double(i) * 0.001), principal: "nobody-\(i)", action: "login",
                    result: "denied", source: "10.0.0.9", detail: "unknown or disabled user"))
        }
        #expect(s.usage.count <= Supervisor.capacity / 2 + 10)
        #expect(s.usage["source 10.0.0.9"] != nil, "the flooding address is the most recent entry, kept")
    }
}
