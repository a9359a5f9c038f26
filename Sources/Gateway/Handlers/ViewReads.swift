import Catalog
import Datasets

extension S3Dispatcher {
    /// The plan of a project's read through its view; the audit entry says which view, of
    /// which source version, and what the view did to the rows (DESIGN.md §7).
    func viewPlan(_ call: S3Call, _ plan: ReadPlan, _ view: ProjectView) async throws -> ReadPlan {
        let (served, computed) = try await objects.viewPlan(plan, view: view)
        audit(call, served, computed, "view of \(view.project)", "source version \(plan.record.version)")
        return served
    }

    /// The plan of a read of one of the view's aggregates (`_aggregates/NAME.csv|json`).
    func aggregatePlan(_ call: S3Call, _ view: ProjectView) async throws -> ReadPlan? {
        guard let (plan, computed) = try await objects.aggregatePlan(dataset: call.bucket, key: call.key, view: view) else { return nil }
        audit(call, plan, computed, "aggregate of the view of \(view.project)", "over the dataset as of \(plan.record.version)")
        return plan
    }

    func audit(_ call: S3Call, _ plan: ReadPlan, _ computed: ViewOutputRecord?, _ what: String, _ source: String) {
        guard case .view(let o) = plan.representation.source else { return }
        call.audit.update {
            $0.view =
                "\(what) \(o.identity), \(source): rows read \(o.rowsRead), served \(o.rowsServed), "
                + "removed by the opt-out registry \(o.rowsOptedOut)" + (computed != nil ? " (computed for this read)" : "")
        }
    }
}
