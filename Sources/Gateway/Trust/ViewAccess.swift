import Access
import Catalog
import Crypto
import Datasets
import Foundation
import Privacy
import Sealing
import Synchronization

/// How a project's request reads a dataset (DESIGN.md §7): as stored, through the project's
/// view, or not at all (an identifying dataset the project has no view of).
enum ReadMode: Sendable {
    case stored
    case view(ProjectView)
    case refused(String)
}

/// Resolves a project's read mode for every request, from the state as it is now: the
/// dataset's sensitivity (uncached), the project's view, the registry version and the key
/// epoch (one snapshot of the access store). Parsed view files and the opt-out filter are
/// cached by version, so a change applies to the next request and costs one reload.
final class ViewResolver: Sendable {
    private let specs = Mutex<[String: ViewSpec]>([:])
    private let optOut = Mutex<(version: Int, filter: OptOutFilter)?>(nil)

    func mode(dataset: String, project: String, catalog: any Catalog, access: any AccessStoring, keyring: KeyringFile?) async throws -> ReadMode {
        guard let sensitivity = try await catalog.sensitivity(of: dataset) else { return .stored }
        let state = try await access.privacyState(dataset: dataset, project: project)
        guard let view = state.view else {
            guard sensitivity == .identifying else { return .stored }
            return .refused("dataset \(dataset) is identifying: project \(project) reads it only through a view, and has none")
        }
        let id = "\(dataset)\u{0}\(project)\u{0}\(view.version)"
        let spec: ViewSpec
        if let hit = specs.withLock({ $0[id] }) {
            spec = hit
        } else {
            do { spec = try ViewSpec.parse(view.spec) } catch { return .refused("the view of \(dataset) for \(project) does not parse: \(error)") }
            specs.withLock { $0[id] = spec }
        }
        guard let keyring else { return .refused("views need the gateway's master key, and it has none") }
        let secret = try keyring.pseudonymSecret()
        let filter = try await optOutFilter(atLeast: state.registryVersion, access: access, secret: secret)
        return .view(
            ProjectView(
                project: project, version: view.version, spec: spec,
                keys: PseudonymKeys(secret: secret, project: project, epoch: state.epoch, dataset: spec.scope == .dataset ? dataset : nil),
                optOut: filter.filter, registryVersion: filter.version, epoch: state.epoch))
    }

    /// The registry as of `version` or later.
    func optOutFilter(atLeast version: Int, access: any AccessStoring, secret: SymmetricKey) async throws -> (version: Int, filter: OptOutFilter) {
        if let hit = optOut.withLock({ $0 }), hit.version >= version { return hit }
        let (hashes, current) = try await access.optOutHashes()
        let loaded = (current, OptOutFilter(key: PseudonymKeys.optOutKey(secret: secret), hashes: hashes))
        optOut.withLock { if ($0?.version ?? 0) < current { $0 = loaded } }
        return loaded
    }
}
