import Catalog
import Foundation
import Sealing

/// `keyring:` in the configuration. The master key is read from `master_key_file`, else from
/// the environment variable `master_key_env` (default `PASSERELLE_MASTER_KEY`, or a file named
/// by `PASSERELLE_MASTER_KEY_FILE`); it is never written anywhere by the gateway.
public struct KeyringConfig: Sendable, Decodable {
    /// Default: `DATA_DIR/keyring.sealed` (local disk; backed up with the catalog).
    public var path: String?
    public var masterKeyFile: String?
    public var masterKeyEnv: String?

    enum CodingKeys: String, CodingKey {
        case path
        case masterKeyFile = "master_key_file", masterKeyEnv = "master_key_env"
    }
}

extension GatewayConfig {
    public func keyringPath(dataDirectory: String) -> String {
        keyring?.path ?? dataDirectory + "/keyring.sealed"
    }

    /// The keyring, opened (and checked) with the master key; nil when no master key is given.
    public func openKeyring(dataDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KeyringFile? {
        var env = environment
        if let name = keyring?.masterKeyEnv { env[MasterKey.environmentVariable] = environment[name] }
        let file = keyring?.masterKeyFile
        guard file != nil || env[MasterKey.fileVariable] != nil || env[MasterKey.environmentVariable] != nil else { return nil }
        let master = try MasterKey.load(file: file, environment: env, dataDirectory: dataDirectory)
        let ring = KeyringFile(path: keyringPath(dataDirectory: dataDirectory), master: master)
        _ = try ring.read()
        return ring
    }

    /// Refuses to go on when a sealed dataset exists and there is no master key.
    public func requireKeyring(_ keyring: KeyringFile?, catalog: any Catalog) async throws {
        guard keyring == nil else { return }
        let names =
            try await catalog.buckets().filter { $0.placement.sealed }.map(\.name)
            + datasets.filter { $0.value.sealed }.map(\.key) + (defaultPlacement?.sealed == true ? ["(default placement)"] : [])
        guard names.isEmpty else {
            throw ConfigError(
                "sealed datasets need the keyring's master key (\(Set(names).sorted().joined(separator: ", "))): set "
                    + "\(MasterKey.environmentVariable) or \(MasterKey.fileVariable), or keyring.master_key_file in the configuration"
            )
        }
    }
}
