import Crypto
import Foundation

/// The keys of one project's view (DESIGN.md §7), all derived from the deployment's pseudonym
/// secret (sealed in the keyring) with HKDF-SHA-256 (RFC 5869):
/// salt `passerelle/pseudonym/v1`, info `pseudonym` or `shift`, then 0x00, the project's name,
/// 0x00, the key epoch in decimal, and for dataset-scoped views 0x00 and the dataset's name.
/// Unlinkable across projects and epochs because each (project, epoch) has its own key.
public struct PseudonymKeys: Sendable {
    let pseudonym: SymmetricKey
    let shift: SymmetricKey
    let pseudonymMAC: KeyedSHA256
    let shiftMAC: KeyedSHA256

    public static let salt = Data("passerelle/pseudonym/v1".utf8)

    public init(secret: SymmetricKey, project: String, epoch: UInt32, dataset: String?) {
        func derive(_ label: String) -> SymmetricKey {
            var info = Data(label.utf8)
            info.append(0)
            info.append(contentsOf: project.utf8)
            info.append(0)
            info.append(contentsOf: String(epoch).utf8)
            if let dataset {
                info.append(0)
                info.append(contentsOf: dataset.utf8)
            }
            return HKDF<SHA256>.deriveKey(inputKeyMaterial: secret, salt: Self.salt, info: info, outputByteCount: 32)
        }
        pseudonym = derive("pseudonym")
        shift = derive("shift")
        pseudonymMAC = KeyedSHA256(key: pseudonym)
        shiftMAC = KeyedSHA256(key: shift)
    }

    /// The pseudonym of an already normalised value: HMAC-SHA-256, its first 160 bits in
    /// lower-case RFC 4648 base32 without padding (32 characters, fixed width).
    public func pseudonym(of normalised: String) -> String {
        pseudonymMAC.mac(normalised).withUnsafeBytes { Base32.lower($0.prefix(20)) }
    }

    /// The patient's date offset in days, in −max…+max: HMAC-SHA-256 under the shift key, its
    /// first 8 bytes big-endian, modulo 2·max+1, minus max.
    public func shiftDays(patient normalised: String, maxDays: Int) -> Int {
        guard maxDays > 0 else { return 0 }
        let v = shiftMAC.mac(normalised).withUnsafeBytes { $0.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        return Int(v % UInt64(2 * maxDays + 1)) - maxDays
    }

    /// The opt-out registry's key: registry entries are HMAC-SHA-256 of the canonical
    /// identifier under it, so the catalog holds no identifier in clear.
    public static func optOutKey(secret: SymmetricKey) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: secret, salt: salt, info: Data("optout".utf8), outputByteCount: 32)
    }
}

enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// RFC 4648 §6 with the lower-case alphabet, no padding.
    static func lower(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for b in bytes {
            buffer = buffer << 8 | UInt32(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
