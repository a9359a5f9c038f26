import Crypto
import Foundation
import NIOCore

/// The flexible checksum algorithms of S3 (`x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm`).
public enum ChecksumAlgorithm: String, Sendable, CaseIterable, Codable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case crc64nvme = "CRC64NVME"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// `x-amz-checksum-crc32`, …
    public var headerName: String { "x-amz-checksum-\(rawValue.lowercased())" }
    /// `ChecksumCRC32`, … as in XML bodies.
    public var xmlName: String { "Checksum\(rawValue)" }

    public init?(headerValue: String) {
        self.init(rawValue: headerValue.uppercased())
    }

    public var digestLength: Int {
        switch self {
        case .crc32, .crc32c: 4
        case .crc64nvme: 8
        case .sha1: 20
        case .sha256: 32
        }
    }

    public var isCRC: Bool {
        switch self {
        case .crc32, .crc32c, .crc64nvme: true
        case .sha1, .sha256: false
        }
    }
}

/// Incremental hasher for one algorithm; `finalize()` gives the raw digest bytes.
public struct ChecksumHasher: Sendable {
    public let algorithm: ChecksumAlgorithm
    private var crc32: UInt32 = ~0
    private var crc64: UInt64 = ~0
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch algorithm {
        case .crc32: crc32 = CRCTables.crc32.update(crc32, bytes)
        case .crc32c: crc32 = CRC32C.update(crc32, bytes)
        case .crc64nvme: crc64 = CRCTables.crc64nvme.update(crc64, bytes)
        case .sha1: sha1.update(bufferPointer: bytes)
        case .sha256: sha256.update(bufferPointer: bytes)
        }
    }

    public mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { update($0) }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> [UInt8] {
        switch algorithm {
        case .crc32, .crc32c:
            let v = ~crc32
            return [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        case .crc64nvme:
            let v = ~crc64
            return (0..<8).map { UInt8((v >> (56 - 8 * UInt64($0))) & 0xFF) }
        case .sha1: return Array(sha1.finalize())
        case .sha256: return Array(sha256.finalize())
        }
    }

    public static func digest(_ algorithm: ChecksumAlgorithm, of bytes: [UInt8]) -> [UInt8] {
        var h = ChecksumHasher(algorithm)
        h.update(bytes)
        return h.finalize()
    }
}

/// A checksum value as S3 carries it: algorithm plus base64 text; for multipart objects
/// the composite form `base64(checksum(part digests))-N`.
public struct ChecksumValue: Sendable, Equatable, Codable {
    public var algorithm: ChecksumAlgorithm
    public var base64: String

    public init(algorithm: ChecksumAlgorithm, base64: String) {
        self.algorithm = algorithm
        self.base64 = base64
    }

    public init(algorithm: ChecksumAlgorithm, digest: [UInt8]) {
        self.algorithm = algorithm
        self.base64 = Data(digest).base64EncodedString()
    }

    /// Decodes and validates a header value: must be base64 of exactly the algorithm's digest length.
    public static func parse(algorithm: ChecksumAlgorithm, header: String) -> ChecksumValue? {
        guard let data = Data(base64Encoded: header.trimmingCharacters(in: .whitespaces)),
            data.count == algorithm.digestLength
        else { return nil }
        return ChecksumValue(algorithm: algorithm, digest: Array(data))
    }

    public var digest: [UInt8]? {
        let raw = base64.split(separator: "-").first.map(String.init) ?? base64
        return Data(base64Encoded: raw).map(Array.init)
    }

    /// S3's composite checksum of a multipart upload: the checksum of the concatenated raw
    /// part checksums, base64, suffixed with `-N` (AWS "Checking object integrity", multipart).
    public static func composite(algorithm: ChecksumAlgorithm, parts: [[UInt8]]) -> ChecksumValue {
        var h = ChecksumHasher(algorithm)
        for p in parts { h.update(p) }
        let v = ChecksumValue(algorithm: algorithm, digest: h.finalize())
        return ChecksumValue(algorithm: algorithm, base64: "\(v.base64)-\(parts.count)")
    }
}

public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Constant-time comparison of two byte strings (signatures, MACs, digests).
public func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for (x, y) in zip(a, b) { diff |= x ^ y }
    return diff == 0
}
