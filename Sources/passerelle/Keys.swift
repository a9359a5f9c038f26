import ArgumentParser
import Catalog
import Datasets
import Foundation
import Gateway
import Sealing
import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the dataset keys of sealed datasets (the keyring, sealed under the master key).",
        subcommands: [MasterKeyCommand.self, Create.self, List.self, Rotate.self, Shred.self])

    struct MasterKeyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "master-key", abstract: "Print a new random master key (base64); store it away from the data.")
        func run() async throws { print(MasterKey.generate()) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the first key version of a dataset.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String

        func run() async throws {
            do {
                let version = try options.keyring().update { try $0.create(dataset, now: Date()) }
                try await options.audit("keys.create", dataset: dataset, detail: "version \(version)")
                print("created key version \(version) for dataset \(dataset)")
            } catch let e as KeyringError {
                throw CommandFailure(e.description)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key versions (never the keys) and how many objects each protects.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String?

        func run() async throws {
            let ring: Keyring
            do { ring = try options.keyring().read() } catch let e as KeyringError { throw CommandFailure(e.description) }
            let catalog = try options.catalog()
            for (name, keys) in ring.datasets.sorted(by: { $0.key < $1.key }) where dataset == nil || dataset == name {
                let usage = try await catalog.keyUsage(bucket: name)
                let current = keys.keys.map(\.version).max()
                for v in keys.keys.sorted(by: { $0.version < $1.version }) {
                    let state = v.version == current ? "current" : "active"
                    print(
                        "\(name)\tv\(v.version)\t\(state)\t\(usage[v.version] ?? 0) objects\tcreated "
                            + "\(ISO8601DateFormatter().string(from: v.created))"
                    )
                }
                for v in keys.shredded.sorted() {
                    print("\(name)\tv\(v)\tshredded\t\(usage[v] ?? 0) objects (unreadable)")
                }
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new key version and re-wrap every object's key under it (payloads are not rewritten).",
            discussion: "Resumable: if an earlier rotation was interrupted, running this again finishes it before creating another version.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Flag(help: "Only finish re-wrapping under the current version; never create a new one.") var resume = false

        func run() async throws {
            let (sealed, registry) = try await options.sealedDataset(dataset)
            do {
                try await rotate(sealed)
            } catch {
                await registry.shutdown()
                throw error
            }
            await registry.shutdown()
        }

        func rotate(_ sealed: SealedDataset) async throws {
            do {
                let ring = sealed.sealer.keyring
                switch try DatasetKeys(catalog: sealed.catalog, keyring: ring, dataset: dataset).startRotation(
                    resume: resume,
                    remaining: try await sealed.remaining())
                {
                case .newVersion(let v): announce("dataset \(dataset): new key version \(v)")
                case .resuming(let v): announce("dataset \(dataset): finishing the rotation to version \(v)")
                case .nothingToDo: break
                }
                let progress = Progress(label: "re-wrapped")
                let outcome = try await sealed.rotate { done, total in progress.show(done, total) }
                progress.end()
                try await options.audit(
                    "keys.rotate", dataset: dataset,
                    detail: "\(outcome.rewrapped) keys re-wrapped to version \(try ring.read().current(dataset).version)")
                announce("re-wrapped \(outcome.rewrapped) keys; \(outcome.unreadable) objects remain under shredded versions")
            } catch let e as KeyringError {
                throw CommandFailure(e.description)
            } catch let e as SealingError {
                throw CommandFailure("rotation stopped (run it again to resume): \(e)")
            } catch let e as StoreError {
                throw CommandFailure("rotation stopped (run it again to resume): \(e)")
            }
        }
    }

    struct Shred: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Destroy a key version: objects still under it become unreadable (crypto-shredding).")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Option(help: "The key version to destroy.") var version: UInt32
        @Flag(help: "Destroy it even though objects are still under it (they become unreadable).") var force = false
        @Flag(name: .customLong("including-current"), help: "Allow destroying the current version (retiring the dataset).") var includingCurrent =
            false

        func run() async throws {
            let usage: Int
            do {
                usage = try await DatasetKeys(catalog: try options.catalog(), keyring: try options.keyring(), dataset: dataset)
                    .shred(version: version, allowInUse: force, includingCurrent: includingCurrent)
            } catch let e as DatasetKeys.InUse {
                throw CommandFailure(
                    "\(e.objects) objects of \(dataset) are still under key version \(version): run `passerelle keys rotate \(dataset)` first, or "
                        + "pass --force to make them unreadable"
                )
            } catch let e as KeyringError {
                throw CommandFailure(e.description)
            }
            try await options.audit("keys.shred", dataset: dataset, detail: "version \(version); \(usage) objects made unreadable")
            print("shredded key version \(version) of \(dataset)" + (usage > 0 ? "; \(usage) objects are now unreadable" : ""))
        }
    }
}

/// Progress on a terminal (one line, rewritten), plain lines every 10% otherwise.
final class Progress: Sendable {
    let label: String
    let tty = isatty(1) == 1
    private let lastDecile = Mutex(-1)

    init(label: String) { self.label = label }

    func show(_ done: Int, _ total: Int) {
        let pct = total > 0 ? min(100, done * 100 / total) : 100
        if tty {
            FileHandle.standardOutput.write(Data("\r\(label) \(done)/\(total) (\(pct)%)".utf8))
        } else if lastDecile.withLock({ d in
            defer { d = pct / 10 }
            return pct / 10 != d
        }) {
            announce("\(label) \(done)/\(total) (\(pct)%)")
        }
    }

    func end() {
        if tty { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }
}

struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "Rebuild or back up the catalog.",
        subcommands: [Rebuild.self, Backup.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recreate the catalog entries of a sealed dataset from its backend alone.")
        @OptionGroup var options: AdminOptions
        @Argument var dataset: String
        @Flag(help: "The dataset is versioned: turn its versioning on and recover every version of each key (with new version ids).")
        var versions = false

        func run() async throws {
            let (sealed, registry) = try await options.sealedDataset(dataset)
            if versions { try await sealed.catalog.setBucketVersioning(dataset, .enabled) }
            let progress = Progress(label: "headers read")
            let outcome: SealedDataset.RebuildOutcome
            do {
                outcome = try await sealed.rebuildCatalog { progress.show($0, $0) }
            } catch {
                await registry.shutdown()
                throw CommandFailure("rebuild of \(dataset) failed: \(error)")
            }
            progress.end()
            await registry.shutdown()
            for r in outcome.rejected { announce("rejected \(r.name): \(r.reason)") }
            announce(
                "dataset \(dataset): \(outcome.recovered) objects recovered, \(outcome.present) already in the catalog, \(outcome.rejected.count) "
                    + "rejected"
            )
            if !outcome.rejected.isEmpty { throw ExitCode(2) }
        }
    }

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the catalog (consistent online snapshot) and the sealed keyring into a local directory.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Destination directory (local disk).") var destination: String

        func run() async throws {
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let target = destination + "/catalog.sqlite"
            for name in [
                "catalog.sqlite", "keyring.sealed", "access.sqlite", "audit.sqlite", "audit-keys.sqlite", "access-secret", "audit-signing-key.pem",
            ] {
                let path = destination + "/" + name
                guard !FileManager.default.fileExists(atPath: path) else { throw CommandFailure("\(path) exists; back up into an empty directory") }
            }
            try options.catalog().backup(to: target)
            // Users, projects and grants; the audit log with its period keys and signing key
            // (a backup kept longer than the audit retention keeps those periods readable).
            try options.access().backup(to: destination + "/access.sqlite")
            try options.auditLog().backup(toDirectory: destination)
            for secret in ["access-secret", "audit-signing-key.pem"] {
                try FileManager.default.copyItem(atPath: options.dataDir + "/" + secret, toPath: destination + "/" + secret)
            }
            try await options.audit("catalog.backup", detail: destination)
            let ring = try options.load().keyringPath(dataDirectory: options.dataDir)
            if FileManager.default.fileExists(atPath: ring) {
                try FileManager.default.copyItem(atPath: ring, toPath: destination + "/keyring.sealed")
                print("backed up the catalog and the keyring (still sealed under the master key) to \(destination)")
            } else {
                print("backed up the catalog to \(destination)")
            }
        }
    }
}
