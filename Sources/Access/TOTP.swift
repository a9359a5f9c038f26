import Crypto
import Foundation

/// RFC 6238 time-based one-time passwords (HMAC-SHA-1, 6 digits, 30-second steps), with the
/// RFC 4226 §5.3 dynamic truncation. Pure: time is an input.
public struct TOTP: Sendable {
    public let secret: [UInt8]
    public var digits = 6
    public var period: TimeInterval = 30

    public init(secret: [UInt8], digits: Int = 6) {
        self.secret = secret
        self.digits = digits
    }

    public func step(at time: Date) -> UInt64 {
        UInt64(max(0, time.timeIntervalSince1970) / period)
    }

    public func code(step: UInt64) -> String {
        let mac = Array(
            HMAC<Insecure.SHA1>.authenticationCode(
                for: withUnsafeBytes(of: step.bigEndian) { Array($0) },
                using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    public func code(at time: Date) -> String { code(step: step(at: time)) }

    public enum Verdict: Sendable, Equatable {
        /// Accepted at this step: record it, so neither it nor an earlier step is accepted again.
        case accepted(step: UInt64)
        /// The code matches a step already used (RFC 6238 §5.2: one-time).
        case replayed
        case wrong
    }

    /// Checks `code` at `time` ± one step (RFC 6238 §5.2 network delay), refusing any step at
    /// or before `lastUsedStep`. Every candidate is compared in constant time.
    public func verify(_ code: String, at time: Date, lastUsedStep: UInt64?) -> Verdict {
        let now = step(at: time)
        var matched: UInt64?
        for s in [now &- 1, now, now + 1] where now > 0 || s != now &- 1 {
            if constantTimeEqual(Array(self.code(step: s).utf8), Array(code.utf8)), matched == nil { matched = s }
        }
        guard let matched else { return .wrong }
        if let last = lastUsedStep, matched <= last { return .replayed }
        return .accepted(step: matched)
    }

    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…` (the Key Uri Format authenticator apps read).
    public func uri(account: String, issuer: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let label = "\(issuer):\(account)".addingPercentEncoding(withAllowedCharacters: allowed.union(CharacterSet(charactersIn: ":"))) ?? account
        let iss = issuer.addingPercentEncoding(withAllowedCharacters: allowed) ?? issuer
        return "otpauth://totp/\(label)?secret=\(Base32.encode(secret))&issuer=\(iss)&algorithm=SHA1&digits=\(digits)&period=\(Int(period))"
    }
}

/// RFC 4648 base32 without padding (what otpauth URIs carry).
public enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0, bits = 0
        for b in bytes {
            buffer = (buffer << 8) | UInt32(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0, bits = 0
        for c in text.uppercased().utf8 where c != UInt8(ascii: "=") && c != UInt8(ascii: " ") {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            buffer = (buffer << 5) | UInt32(v)
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> UInt32(bits - 8)) & 0xff))
                bits -= 8
            }
        }
        return out
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
