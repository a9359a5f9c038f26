import ArgumentParser
import Catalog
import Datasets
import Foundation
import Gateway
import Logging
import Sealing
import Storage

/// Options every administrative command shares: the data directory and the configuration.
struct AdminOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The gateway's data directory (catalog, local store).")
    var dataDir = "./passerelle-data"

    @Option(help: "YAML file declaring backends and datasets.")
    var config: String?

    func load() throws -> GatewayConfig {
        try config.map(GatewayConfig.load(path:)) ?? GatewayConfig()
    }

    func catalog() throws -> SQLiteCatalog {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return try SQLiteCatalog(path: dataDir + "/catalog.sqlite")
    }

    func registry(keyring: KeyringFile? = nil) async throws -> BackendRegistry {
        var logger = Logger(label: "passerelle")
        logger.logLevel = .warning
        return try await BackendFactory.registry(
            config: try load(), local: try GatewayServer.localStore(dataDirectory: dataDir),
            keyring: keyring, logger: logger)
    }

    /// The keyring, which these commands cannot do without.
    func keyring() throws -> KeyringFile {
        do {
            guard let ring = try load().openKeyring(dataDirectory: dataDir) else {
                throw CommandFailure(
                    "no master key: set \(MasterKey.environmentVariable) or \(MasterKey.fileVariable) (generate one with `passerelle keys "
                        + "master-key`)"
                )
            }
            return ring
        } catch let e as KeyringError {
            throw CommandFailure(e.description)
        }
    }

    /// A sealed dataset, for key and catalog commands, and the registry to shut down after.
    func sealedDataset(_ name: String) async throws -> (SealedDataset, BackendRegistry) {
        let catalog = try catalog()
        guard let b = try await catalog.bucket(name) else { throw CommandFailure("no dataset named '\(name)'") }
        guard b.placement.sealed else { throw CommandFailure("dataset '\(name)' is not sealed (layout \(b.placement.layout))") }
        let registry = try await registry(keyring: try keyring())
        do {
            return (try SealedDataset(catalog: catalog, placement: try registry.resolve(b.placement, dataset: name), dataset: name), registry)
        } catch {
            await registry.shutdown()
            throw error
        }
    }
}

struct BackendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backend", abstract: "Inspect the configured backends.",
        subcommands: [List.self, Check.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List backends (no secrets are shown).")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let registry = try await options.registry()
            for (name, b) in registry.backends.sorted(by: { $0.key < $1.key }) {
                print("\(name)\t\(b.kind)\t\(b.location)")
            }
            await registry.shutdown()
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check connectivity, credentials and capabilities of a backend.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Backend name.") var name: String
        @Option(help: "Container (bucket) to probe; default: one a dataset uses.") var container: String?

        func run() async throws {
            let config = try options.load()
            let registry = try await options.registry()
            guard let backend = registry.backends[name] else {
                await registry.shutdown()
                throw ValidationError("no backend named '\(name)' (configured: \(registry.backends.keys.sorted().joined(separator: ", ")))")
            }
            let target = container ?? config.container(on: name)
            print("backend \(name) (\(backend.kind))")
            do {
                for line in try await backend.check(container: target) { print("  " + line) }
                print("OK")
                await registry.shutdown()
            } catch {
                await registry.shutdown()
                throw CommandFailure("backend \(name) failed its check: \(error)")
            }
        }
    }
}

struct DatasetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset", abstract: "Create and inspect datasets (S3 buckets).",
        subcommands: [Create.self, DatasetSet.self, List.self, Show.self, PhaseCommand.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a dataset placed on a backend.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Dataset (bucket) name.") var name: String
        @Option(help: "Backend name (default: local).") var backend = "local"
        @Option(help: "Container on the backend (S3 bucket, Azure container).") var container = ""
        @Option(help: "Name prefix on the backend.") var prefix = ""
        @Option(help: "Layout: native (objects under their keys) or sealed (encrypted, opaque names).") var layout = "native"
        @Option(help: "Region reported for the bucket.") var region = "us-east-1"
        @Option(help: "open, pseudonymised or identifying (read by projects only through views).") var sensitivity = "open"

        func run() async throws {
            guard let sensitivity = Sensitivity(rawValue: sensitivity) else {
                throw CommandFailure("--sensitivity: open, pseudonymised or identifying")
            }
            var config = try options.load()
            let placement = Placement(backend: backend, container: container, prefix: prefix, layout: layout)
            config.datasets = [name: placement]
            do {
                try config.validate()
            } catch let e as ConfigError {
                throw CommandFailure(e.description)
            }
            let catalog = try options.catalog()
            if placement.sealed {
                do { try options.keyring().ensureKeys(for: name) } catch let e as KeyringError { throw CommandFailure(e.description) }
            }
            do {
                try await catalog.createBucket(
                    BucketRecord(name: name, region: region, created: Date(), placement: placement, sensitivity: sensitivity))
            } catch CatalogError.bucketExists {
                throw CommandFailure("dataset '\(name)' already exists")
            }
            try await options.audit("dataset.create", dataset: name, detail: "\(placement.description), sensitivity \(sensitivity.rawValue)")
            print("created dataset \(name) on \(placement.description)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List datasets and their placements.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            for b in try await options.catalog().buckets() {
                print("\(b.name)\t\(b.placement.description)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a dataset: placement, objects, bytes.")
        @OptionGroup var options: AdminOptions
        @Argument var name: String

        func run() async throws {
            let catalog = try options.catalog()
            guard let b = try await catalog.bucket(name) else { throw CommandFailure("no dataset named '\(name)'") }
            let usage = try await catalog.usage(bucket: name)
            print(
                """
                dataset:   \(b.name)
                region:    \(b.region)
                created:   \(ISO8601DateFormatter().string(from: b.created))
                backend:   \(b.placement.backend)
                container: \(b.placement.container)
                prefix:    \(b.placement.prefix)
                layout:    \(b.placement.layout)
                sensitivity: \(try await catalog.sensitivity(of: name)?.rawValue ?? "open")
                objects:   \(usage.objects)
                bytes:     \(usage.bytes)
                """)
        }
    }
}

/// A command that ran and failed: ArgumentParser prints "Error: …" and exits 1, without the
/// usage text it adds to argument errors.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
