import Catalog
import Foundation
import Yams

/// A migration plan (YAML): waves of datasets, each with its target placement, write mode,
/// backfill limits, verification policy and cutover gate. Waves run one after the other; the
/// datasets of a wave move together.
///
/// ```yaml
/// defaults: {mode: journaled, bandwidth: 100MiB, parallelism: 8, verify: full, cutover: manual}
/// waves:
///   - name: first
///     datasets:
///       - dataset: cohort-a
///         target: {backend: sovereign, bucket: cohorts, prefix: cohort-a/, layout: sealed}
///         cutover: auto
/// ```
public struct MigrationPlan: Sendable, Equatable {
    public enum Verify: String, Sendable, Codable { case full, checksums }
    public enum Gate: String, Sendable, Codable {
        /// Cutover as soon as verification is clean.
        case auto
        /// Stop at `verified` and wait for `passerelle migrate cutover`.
        case manual
    }

    public struct Step: Sendable, Equatable {
        public var dataset: String
        public var target: Placement
        public var mode: WriteMode
        public var bandwidth: Int64?
        public var parallelism: Int
        public var verify: Verify
        public var cutover: Gate
        /// Retire the source once in cutover (auto gate only).
        public var retire: Bool
    }

    public struct Wave: Sendable, Equatable {
        public var name: String
        public var steps: [Step]
    }

    public var waves: [Wave]

    public static func parse(_ text: String) throws -> MigrationPlan {
        let raw: Raw
        do {
            raw = try YAMLDecoder().decode(Raw.self, from: text)
        } catch {
            throw PlanError("the plan does not parse: \(error)")
        }
        let d = raw.defaults ?? Options()
        var seen = Set<String>()
        var waves: [Wave] = []
        for (i, w) in raw.waves.enumerated() {
            var steps: [Step] = []
            for s in w.datasets {
                guard seen.insert(s.dataset).inserted else { throw PlanError("dataset '\(s.dataset)' appears twice in the plan") }
                let o = s.options.merged(over: d)
                let bandwidth = try o.bandwidth.map { text in
                    guard let b = ByteCount.parse(text), b > 0 else { throw PlanError("\(s.dataset): bandwidth '\(text)' is not a byte rate") }
                    return b
                }
                let parallelism = o.parallelism ?? 8
                guard (1...256).contains(parallelism) else { throw PlanError("\(s.dataset): parallelism must be between 1 and 256") }
                guard Placement.layouts.contains(s.target.layout) else { throw PlanError("\(s.dataset): unknown layout '\(s.target.layout)'") }
                steps.append(
                    Step(
                        dataset: s.dataset, target: s.target, mode: o.mode ?? .journaled, bandwidth: bandwidth,
                        parallelism: parallelism, verify: o.verify ?? .full, cutover: o.cutover ?? .manual, retire: o.retire ?? false))
            }
            waves.append(Wave(name: w.name ?? "wave \(i + 1)", steps: steps))
        }
        guard !waves.isEmpty else { throw PlanError("the plan has no waves") }
        return MigrationPlan(waves: waves)
    }

    struct Options: Decodable {
        var mode: WriteMode?
        var bandwidth: String?
        var parallelism: Int?
        var verify: Verify?
        var cutover: Gate?
        var retire: Bool?

        func merged(over d: Options) -> Options {
            Options(
                mode: mode ?? d.mode, bandwidth: bandwidth ?? d.bandwidth, parallelism: parallelism ?? d.parallelism,
                verify: verify ?? d.verify, cutover: cutover ?? d.cutover, retire: retire ?? d.retire)
        }
    }

    struct RawStep: Decodable {
        var dataset: String
        var target: Placement
        var options: Options

        enum CodingKeys: String, CodingKey { case dataset, target }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            dataset = try c.decode(String.self, forKey: .dataset)
            target = try c.decode(Placement.self, forKey: .target)
            options = try Options(from: decoder)
        }
    }

    struct Raw: Decodable {
        var defaults: Options?
        var waves: [RawWave]
    }

    struct RawWave: Decodable {
        var name: String?
        var datasets: [RawStep]
    }
}

public struct PlanError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What the plan runner does next for one dataset, from its migration's state. Pure, so a
/// run resumes wherever the previous one stopped and `--dry-run` shows the same decisions.
public enum PlanAction: Sendable, Equatable {
    case start
    case waitBackfill
    case verify
    case cutover
    case waitOperator
    case retire
    case done
    /// The dataset's migration is not this plan's (another target) or in a state the plan does not drive.
    case conflict(String)

    public static func next(_ step: MigrationPlan.Step, migration m: MigrationRecord?, journal: JournalStats) -> PlanAction {
        guard let m, m.phase != .legacy else { return .start }
        guard m.target.sameLocation(as: step.target) && m.target.layout == step.target.layout else {
            return m.phase == .retired && m.target.sameLocation(as: step.target)
                ? .done
                : m.phase == .retired ? .start : .conflict("migrating to \(m.target.description), the plan says \(step.target.description)")
        }
        switch m.phase {
        case .legacy: return .start
        case .mirroring:
            if m.backfill.stage != .done { return .waitBackfill }
            return PhaseMachine.cleanVerification(m) && journal.dead == 0 ? (step.cutover == .auto ? .cutover : .waitOperator) : .verify
        case .verified:
            return step.cutover == .auto ? .cutover : .waitOperator
        case .cutover:
            return step.retire && step.cutover == .auto ? .retire : .done
        case .retired:
            return .done
        }
    }
}
