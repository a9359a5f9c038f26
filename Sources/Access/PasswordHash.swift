import Crypto
import Foundation
import _CryptoExtras

/// Password hashes: PBKDF2-HMAC-SHA-256 with 600,000 iterations and a 16-byte salt (OWASP's
/// 2023 figure for this function; FIPS 140 approved). Argon2id would be stronger against
/// GPUs but no package on our mirror implements it, and the second factor and the lockout
/// bound what a stolen hash or online guessing gives. Stored as
/// `pbkdf2-sha256$ITERATIONS$base64(salt)$base64(hash)`, so the count can rise later.
public enum PasswordHash {
    public static let iterations = 600_000

    public static func make(_ password: String, iterations: Int = iterations) throws -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        for i in salt.indices { salt[i] = UInt8.random(in: 0...255) }
        let hash = try derive(password, salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }

    /// A hash of nothing anyone knows, verified against when the user does not exist.
    public static let decoy = "pbkdf2-sha256$\(iterations)$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$")
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let n = Int(parts[1]), n >= 1000,
            let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3])),
            let hash = try? derive(password, salt: Array(salt), iterations: n)
        else { return false }
        return constantTimeEqual(hash, Array(expected))
    }

    static func derive(_ password: String, salt: [UInt8], iterations: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256,
            outputByteCount: 32, unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }
}
