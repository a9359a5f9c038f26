import Access
import ArgumentParser
import Catalog
import Crypto
import Datasets
import Foundation
import Privacy
import Sealing

/// Privacy views (DESIGN.md §7; docs/privacy.md): a project's view of a dataset.
struct ViewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view", abstract: "Privacy views: what a project reads of a dataset.",
        subcommands: [Set.self, List.self, Show.self, Remove.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set (or replace) a project's view of a dataset from a YAML file.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option var project: String
        @Option(help: "The view file (YAML, docs/privacy.md).") var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw CommandFailure("cannot read \(file) as UTF-8 text")
            }
            do { _ = try ViewSpec.parse(text) } catch let e as PrivacyError { throw CommandFailure("\(file): \(e)") }
            guard try await options.catalog().bucket(dataset) != nil else { throw CommandFailure("no dataset named '\(dataset)'") }
            let version: Int
            do { version = try options.access().setView(dataset: dataset, project: project, spec: text, now: Date()) } catch let e as AccessError {
                throw CommandFailure(e.description)
            }
            try await options.audit("view.set", dataset: dataset, project: project, detail: "version \(version)")
            print("view of \(dataset) for \(project): version \(version)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the current views (of one dataset, or all).")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String?

        func run() async throws {
            for v in try options.access().views(dataset: dataset) {
                print("\(v.dataset)\t\(v.project)\tversion \(v.version)\t\(v.created.formatted(.iso8601))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a project's current view file.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option var project: String

        func run() async throws {
            guard let v = try options.access().view(dataset: dataset, project: project) else {
                throw CommandFailure("project \(project) has no view of \(dataset)")
            }
            print("# view of \(v.dataset) for \(v.project), version \(v.version), set \(v.created.formatted(.iso8601))")
            print(v.spec, terminator: v.spec.hasSuffix("\n") ? "" : "\n")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a project's view (its outputs are dropped).")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option var project: String

        func run() async throws {
            guard try options.access().removeView(dataset: dataset, project: project, now: Date()) else {
                throw CommandFailure("project \(project) has no view of \(dataset)")
            }
            // The outputs' blobs go with the next start-up sweep; no row serves them any more.
            _ = try await options.catalog().dropViewOutputs(bucket: dataset, project: project)
            try await options.audit("view.remove", dataset: dataset, project: project)
            print("removed the view of \(dataset) for \(project)")
        }
    }
}

/// The opt-out registry: patients who objected, never served by any view. Identifiers are
/// stored as keyed hashes only, and never written to the audit log.
struct OptOutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optout", abstract: "The opt-out registry (patients who objected).",
        subcommands: [Add.self, Remove.self, Import.self, Count.self])

    static func hashes(_ ids: some Sequence<String>, options: AdminOptions) throws -> [Data] {
        let key: SymmetricKey
        do { key = PseudonymKeys.optOutKey(secret: try options.keyring().pseudonymSecret()) } catch let e as KeyringError {
            throw CommandFailure(e.description)
        }
        return ids.compactMap { OptOutFilter.entry($0, key: key) }
    }

    static func change(_ action: String, _ ids: [String], options: AdminOptions, add: Bool) async throws {
        let hashes = try hashes(ids, options: options)
        let store = try options.access()
        let (changed, version) = add ? try store.addOptOuts(hashes) : try store.removeOptOuts(hashes)
        try await options.audit(action, detail: "\(hashes.count) identifiers, \(changed) changed; registry version \(version)")
        print("\(changed) of \(hashes.count) \(add ? "added" : "removed"); registry version \(version), \(try store.optOutCount()) patients")
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add patients (identifiers as arguments).")
        @OptionGroup var options: AdminOptions
        @Argument var identifiers: [String]
        func run() async throws { try await OptOutCommand.change("optout.add", identifiers, options: options, add: true) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove patients (identifiers as arguments).")
        @OptionGroup var options: AdminOptions
        @Argument var identifiers: [String]
        func run() async throws { try await OptOutCommand.change("optout.remove", identifiers, options: options, add: false) }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add the patients of a file (one identifier a line).")
        @OptionGroup var options: AdminOptions
        @Argument var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
            guard let text = String(data: data, encoding: .utf8) else { throw CommandFailure("\(file) is not UTF-8 text") }
            let ids = text.split(whereSeparator: \.isNewline).map(String.init)
            try await OptOutCommand.change("optout.import", ids, options: options, add: true)
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many patients the registry holds.")
        @OptionGroup var options: AdminOptions
        func run() async throws { print(try options.access().optOutCount()) }
    }
}

struct RotatePseudonyms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-pseudonyms", abstract: "Start a new pseudonym key epoch for a project (its pseudonyms and date shifts change).")
    @OptionGroup var options: AdminOptions
    @Argument var project: String

    func run() async throws {
        let epoch: UInt32
        do { epoch = try options.access().rotatePseudonyms(project) } catch let e as AccessError { throw CommandFailure(e.description) }
        try await options.audit("project.rotate-pseudonyms", project: project, detail: "epoch \(epoch)")
        print("project \(project): pseudonym epoch \(epoch)")
    }
}

struct DatasetSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a dataset's settings.")
    @OptionGroup var options: AdminOptions
    @Argument var name: String
    @Option(help: "open, pseudonymised or identifying (read by projects only through views).") var sensitivity: String

    func run() async throws {
        guard let s = Sensitivity(rawValue: sensitivity) else { throw CommandFailure("--sensitivity: open, pseudonymised or identifying") }
        let catalog = try options.catalog()
        guard let before = try await catalog.sensitivity(of: name) else { throw CommandFailure("no dataset named '\(name)'") }
        try await catalog.setSensitivity(name, s)
        try await options.audit("dataset.sensitivity", dataset: name, detail: "\(before.rawValue) → \(s.rawValue)")
        print("dataset \(name): sensitivity \(s.rawValue)")
    }
}
