import Crypto
import Foundation

/// The opt-out registry as a view reads it: the keyed hashes of the patients who objected.
/// Held as the sorted first 8 bytes of each hash (8 MB for a million patients); a collision
/// can only remove a row, never serve one that should be removed.
public struct OptOutFilter: Sendable {
    let keyed: KeyedSHA256
    let prefixes: [UInt64]

    /// The registry's identifier form: whitespace removed, upper case.
    public static let canonical: [Normalisation] = [.stripSpaces, .upper]

    public init(key: SymmetricKey, hashes: some Sequence<Data>) {
        keyed = KeyedSHA256(key: key)
        prefixes = hashes.map { Self.prefix($0) }.sorted()
    }

    public static func hash(_ identifier: String, key: SymmetricKey) -> Data {
        mac(Normalisation.apply(canonical, to: identifier), key)
    }

    /// The registry entry of an identifier; nil for one that is empty once canonical (a blank
    /// line of an import file), which no row can match.
    public static func entry(_ identifier: String, key: SymmetricKey) -> Data? {
        let form = Normalisation.apply(canonical, to: identifier)
        return form.isEmpty ? nil : mac(form, key)
    }

    static func mac(_ canonicalForm: String, _ key: SymmetricKey) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(canonicalForm.utf8), using: key))
    }

    static func prefix(_ h: Data) -> UInt64 { h.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }

    /// `canonical`: the identifier is in the registry's form already (no normalisation).
    public func contains(_ identifier: String, canonical: Bool = false) -> Bool {
        guard !prefixes.isEmpty else { return false }
        let mac = keyed.mac(canonical ? identifier : Normalisation.apply(Self.canonical, to: identifier))
        let p = mac.withUnsafeBytes { $0.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        var lo = 0, hi = prefixes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if prefixes[mid] < p { lo = mid + 1 } else { hi = mid }
        }
        return lo < prefixes.count && prefixes[lo] == p
    }

    public var count: Int { prefixes.count }
}
