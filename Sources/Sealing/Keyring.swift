import Crypto
import Foundation

/// The dataset KEKs (DESIGN.md §4): every version of every dataset's key, and the versions
/// destroyed. Pure value; `KeyringFile` keeps it sealed on disk under the master key.
public struct Keyring: Sendable, Equatable, Codable {
    public struct Version: Sendable, Equatable, Codable {
        public var version: UInt32
        public var key: Data
        public var created: Date
    }

    public struct DatasetKeys: Sendable, Equatable, Codable {
        public var keys: [Version] = []
        public var shredded: [UInt32] = []

        /// Versions ever created, live or destroyed.
        public var highest: UInt32 { max(keys.map(\.version).max() ?? 0, shredded.max() ?? 0) }
    }

    public var datasets: [String: DatasetKeys] = [:]
    /// The deployment's pseudonym secret, from which every project's view keys derive
    /// (DESIGN.md §7); created on first use, kept only here, sealed like the KEKs.
    public var pseudonymSecret: Data?

    public init() {}

    public static func newKey() -> Data {
        Data((0..<32).map { _ in UInt8.random(in: 0...255) })
    }

    /// Creates the dataset's first KEK version; returns it. A dataset that has keys keeps them.
    @discardableResult
    public mutating func create(_ dataset: String, now: Date) throws -> UInt32 {
        guard dataset.utf8.count <= Envelope.maxKEKID, !dataset.isEmpty else { throw SealingError.malformed("dataset name for a KEK") }
        guard datasets[dataset] == nil else { throw KeyringError.exists(dataset) }
        datasets[dataset] = DatasetKeys(keys: [Version(version: 1, key: Self.newKey(), created: now)])
        return 1
    }

    /// Adds a new version, which new objects use from now on.
    public mutating func rotate(_ dataset: String, now: Date) throws -> UInt32 {
        guard var d = datasets[dataset] else { throw KeyringError.noKeys(dataset) }
        let v = d.highest + 1
        d.keys.append(Version(version: v, key: Self.newKey(), created: now))
        datasets[dataset] = d
        return v
    }

    /// Destroys a version's key material. The current version (the one new objects use) is
    /// only destroyed with `includingCurrent` (retiring the dataset).
    public mutating func shred(_ dataset: String, version: UInt32, includingCurrent: Bool = false) throws {
        guard var d = datasets[dataset] else { throw KeyringError.noKeys(dataset) }
        guard let i = d.keys.firstIndex(where: { $0.version == version }) else {
            throw d.shredded.contains(version) ? KeyringError.alreadyShredded(dataset, version) : KeyringError.noVersion(dataset, version)
        }
        if version == d.keys.map(\.version).max(), !includingCurrent { throw KeyringError.current(dataset, version) }
        d.keys.remove(at: i)
        d.shredded.append(version)
        datasets[dataset] = d
    }

    public func current(_ dataset: String) throws -> KEK {
        guard let d = datasets[dataset], let v = d.keys.max(by: { $0.version < $1.version }) else {
            throw KeyringError.noKeys(dataset)
        }
        return try KEK(id: dataset, version: v.version, key: SymmetricKey(data: v.key))
    }

    public func kek(_ dataset: String, version: UInt32) throws -> KEK {
        guard let d = datasets[dataset] else { throw SealingError.unknownKey(dataset: dataset, version: version) }
        guard let v = d.keys.first(where: { $0.version == version }) else {
            throw d.shredded.contains(version)
                ? SealingError.shredded(dataset: dataset, version: version)
                : SealingError.unknownKey(dataset: dataset, version: version)
        }
        return try KEK(id: dataset, version: v.version, key: SymmetricKey(data: v.key))
    }

    // MARK: sealed form

    static let format = "passerelle-keyring/1"

    struct Sealed: Codable {
        var format: String
        var nonce: Data
        var sealed: Data
    }

    /// AES-256-GCM under the master key, AAD = the format name.
    public func sealed(master: SymmetricKey) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let box = try AES.GCM.seal(try encoder.encode(self), using: master, authenticating: Array(Self.format.utf8))
        return try encoder.encode(Sealed(format: Self.format, nonce: Data(box.nonce), sealed: box.ciphertext + box.tag))
    }

    public init(sealed data: Data, master: SymmetricKey) throws {
        guard let outer = try? JSONDecoder().decode(Sealed.self, from: data), outer.format == Self.format, outer.sealed.count >= 16 else {
            throw KeyringError.unreadable("not a \(Self.format) file")
        }
        let plain: Data
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: outer.nonce), ciphertext: outer.sealed.dropLast(16), tag: outer.sealed.suffix(16))
            plain = try AES.GCM.open(box, using: master, authenticating: Array(Self.format.utf8))
        } catch {
            throw KeyringError.wrongMasterKey
        }
        do {
            self = try JSONDecoder().decode(Keyring.self, from: plain)
        } catch {
            throw KeyringError.unreadable("\(error)")
        }
    }
}

public enum KeyringError: Error, Sendable, Equatable, CustomStringConvertible {
    case exists(String)
    case noKeys(String)
    case noVersion(String, UInt32)
    case alreadyShredded(String, UInt32)
    case current(String, UInt32)
    case wrongMasterKey
    case noMasterKey(String)
    case unreadable(String)

    public var description: String {
        switch self {
        case .exists(let d): "dataset '\(d)' already has keys"
        case .noKeys(let d): "dataset '\(d)' has no key in the keyring (passerelle keys create \(d))"
        case .noVersion(let d, let v): "dataset '\(d)' has no key version \(v)"
        case .alreadyShredded(let d, let v): "key version \(v) of dataset '\(d)' is already shredded"
        case .current(let d, let v):
            "key version \(v) is the current key of dataset '\(d)': rotate first, or pass --including-current to retire the dataset"
        case .wrongMasterKey: "the master key does not open the keyring (wrong master key, or the keyring file was altered)"
        case .noMasterKey(let why): "no master key: \(why)"
        case .unreadable(let why): "the keyring cannot be read: \(why)"
        }
    }
}
