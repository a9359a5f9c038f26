import Catalog
import Foundation
import NIOConcurrencyHelpers

/// Drives the datasets of a migration plan (`passerelle migrate run`): each call takes a
/// dataset's next step as `PlanAction` decides it from the catalog (start, verify, cut over,
/// retire), so running a plan again resumes it. A verification that is not clean is tried again
/// on later rounds, up to `verifyAttempts`, then the run stops.
public final class PlanRunner: Sendable {
    let controller: MigrationController
    let catalog: any Catalog
    /// What the plan's changes record as their reason (`plan FILE`).
    let why: String
    let verifyAttempts: Int
    /// Where verification reports are written.
    let reportDirectory: String
    private let failures = NIOLockedValueBox<[String: Int]>([:])

    public init(controller: MigrationController, catalog: any Catalog, why: String, verifyAttempts: Int, reportDirectory: String) {
        self.controller = controller
        self.catalog = catalog
        self.why = why
        self.verifyAttempts = verifyAttempts
        self.reportDirectory = reportDirectory
    }

    /// What one step did, for the operator.
    public enum Event: Sendable {
        case started(MigrationRecord)
        case verification(VerificationReport)
        case cutover
        case retired
    }

    public struct Stop: Error, Sendable, CustomStringConvertible {
        public var description: String
        /// The report that stopped the run, when a verification did.
        public var report: VerificationReport?
    }

    /// Takes the next step of `step`'s dataset in wave `wave`; returns the action it decided
    /// and what it did (nil while the dataset waits: for its backfill, or for an operator).
    public func advance(_ step: MigrationPlan.Step, wave: String) async throws -> (PlanAction, Event?) {
        let m = try await catalog.migration(step.dataset)
        let action = PlanAction.next(step, migration: m, journal: try await catalog.journalStats(bucket: step.dataset))
        switch action {
        case .start:
            let started = try await controller.start(
                step.dataset, target: step.target, mode: step.mode, bandwidth: step.bandwidth,
                parallelism: step.parallelism, why: "\(why), \(wave)")
            return (action, .started(started))
        case .verify:
            let v = try await controller.verify(
                step.dataset, mode: step.verify == .full ? .full : .checksums, reportPath: nil,
                reportDirectory: reportDirectory)
            if !v.report.clean {
                let n = failures.withLockedValue { f in
                    f[step.dataset, default: 0] += 1
                    return f[step.dataset, default: 0]
                }
                if n >= verifyAttempts {
                    throw Stop(
                        description: "\(step.dataset): verification not clean after \(verifyAttempts) attempts; the plan stops here",
                        report: v.report)
                }
            }
            return (action, .verification(v.report))
        case .cutover:
            _ = try await controller.transition(.cutover, step.dataset, force: false, why: "\(why): automatic cutover")
            return (action, .cutover)
        case .retire:
            _ = try await controller.retire(step.dataset, why: "\(why): automatic retirement", timeout: 120)
            return (action, .retired)
        case .waitBackfill, .waitOperator, .done:
            return (action, nil)
        case .conflict(let reason):
            throw Stop(description: "\(step.dataset): \(reason)", report: nil)
        }
    }
}
