import Crypto
import Foundation

/// Sealed object format v1 (docs/sealed-format.md): per-object DEK, HKDF-SHA-512 → AES-256-GCM
/// key ‖ key commitment, payload in 16 KiB chunks sealed with nonce = 11-byte counter ‖ flag.
///
/// A payload is a sequence of *segments*, each an independent chunk stream whose last chunk
/// carries the final flag: a single PUT is segment 0; a multipart upload seals each client part
/// as the segment numbered like the part, so parts stream straight to the backend's own parts,
/// in any order and in parallel. The counter of chunk `i` of segment `s` is `s · 2^64 + i`.
public enum SealedFormat {
    public static let version: UInt16 = 1
    public static let chunkSize = 16 * 1024
    public static let tagSize = 16
    public static let sealedChunkSize = chunkSize + tagSize
    public static let dekSize = 32
    public static let nonceSize = 32
    public static let commitmentSize = 32
    /// Highest segment number; the next one is reserved for the metadata block's nonce.
    public static let maxSegment: UInt32 = 0xFF_FFFE
    static let metadataSegment: UInt32 = 0xFF_FFFF
    static let kdfInfo = Array("passerelle/sealed/v1".utf8)

    /// Chunks in a segment of `plain` bytes: an empty segment is one empty final chunk.
    public static func chunkCount(_ plain: Int64) -> Int64 {
        max(1, (plain + Int64(chunkSize) - 1) / Int64(chunkSize))
    }

    /// Sealed size of a segment of `plain` bytes.
    public static func sealedLength(_ plain: Int64) -> Int64 {
        plain + chunkCount(plain) * Int64(tagSize)
    }

    /// The 12-byte AES-GCM nonce of chunk `index` of `segment`.
    static func chunkNonce(segment: UInt32, index: UInt64, last: Bool) -> [UInt8] {
        var n = [UInt8](repeating: 0, count: 12)
        n[0] = UInt8(truncatingIfNeeded: segment >> 16)
        n[1] = UInt8(truncatingIfNeeded: segment >> 8)
        n[2] = UInt8(truncatingIfNeeded: segment)
        for i in 0..<8 { n[3 + i] = UInt8(truncatingIfNeeded: index >> (56 - 8 * UInt64(i))) }
        n[11] = last ? 1 : 0
        return n
    }
}

/// Why a sealed object cannot be opened. Every case means: nothing was or will be served.
public enum SealingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A chunk failed authentication (bit flip, chunk swapped, duplicated or moved).
    case corruptChunk(segment: UInt32, index: UInt64)
    /// The payload ends before its last chunk or goes on after it.
    case truncated
    case extended
    /// The DEK does not match the object (key commitment differs), or a wrapped key or a
    /// header does not authenticate.
    case wrongKey(String)
    /// The KEK version that wrapped this object's DEK was destroyed.
    case shredded(dataset: String, version: UInt32)
    /// No such KEK in the keyring.
    case unknownKey(dataset: String, version: UInt32)
    case unsupportedVersion(UInt16)
    case malformed(String)

    public var description: String {
        switch self {
        case .corruptChunk(let s, let i): "sealed chunk \(i) of segment \(s) failed authentication"
        case .truncated: "sealed payload is truncated"
        case .extended: "sealed payload has bytes after its last chunk"
        case .wrongKey(let why): "wrong key: \(why)"
        case .shredded(let d, let v): "key version \(v) of dataset '\(d)' was shredded; the object is unreadable"
        case .unknownKey(let d, let v): "no key version \(v) for dataset '\(d)' in the keyring"
        case .unsupportedVersion(let v): "unsupported sealed format version \(v)"
        case .malformed(let why): "malformed sealed object: \(why)"
        }
    }
}

/// The keys of one object, derived from its DEK and nonce.
public struct ObjectKeys: Sendable {
    let aead: SymmetricKey
    public let commitment: [UInt8]
    public let nonce: [UInt8]

    /// HKDF-SHA-512(ikm = DEK, salt = nonce, info = "passerelle/sealed/v1", L = 64):
    /// bytes 0..<32 are the AES-256-GCM key, 32..<64 the key commitment.
    public init(dek: SymmetricKey, nonce: [UInt8]) throws {
        guard dek.bitCount == 256, nonce.count == SealedFormat.nonceSize else { throw SealingError.malformed("DEK or nonce size") }
        let okm = HKDF<SHA512>.deriveKey(inputKeyMaterial: dek, salt: nonce, info: SealedFormat.kdfInfo, outputByteCount: 64)
        let bytes = okm.withUnsafeBytes { Array($0) }
        aead = SymmetricKey(data: bytes[0..<32])
        commitment = Array(bytes[32..<64])
        self.nonce = nonce
    }

    /// Checks a stored commitment in constant time.
    public func verify(commitment stored: [UInt8]) throws {
        guard stored.count == commitment.count else { throw SealingError.wrongKey("commitment size") }
        var diff: UInt8 = 0
        for (a, b) in zip(stored, commitment) { diff |= a ^ b }
        guard diff == 0 else { throw SealingError.wrongKey("key commitment does not match") }
    }

    /// Seals one chunk (at most 16 KiB of plaintext); hands ciphertext, then tag, to `emit`.
    public func sealChunk(
        _ plain: UnsafeRawBufferPointer, segment: UInt32, index: UInt64, last: Bool,
        emit: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let nonce = try AES.GCM.Nonce(data: SealedFormat.chunkNonce(segment: segment, index: index, last: last))
        let box = try AES.GCM.seal(plain, using: aead, nonce: nonce)
        try box.ciphertext.withUnsafeBytes(emit)
        try box.tag.withUnsafeBytes(emit)
    }

    /// Seals one chunk; appends ciphertext ‖ tag to `out`.
    public func sealChunk(_ plain: UnsafeRawBufferPointer, segment: UInt32, index: UInt64, last: Bool, into out: inout [UInt8]) throws {
        try sealChunk(plain, segment: segment, index: index, last: last) { out.append(contentsOf: $0) }
    }

    /// Opens one sealed chunk (ciphertext ‖ tag); the plaintext is only returned authenticated.
    public func openChunk(_ sealed: UnsafeRawBufferPointer, segment: UInt32, index: UInt64, last: Bool) throws -> Data {
        guard sealed.count >= SealedFormat.tagSize else { throw SealingError.truncated }
        do {
            let nonce = try AES.GCM.Nonce(data: SealedFormat.chunkNonce(segment: segment, index: index, last: last))
            let cut = sealed.count - SealedFormat.tagSize
            let box = try AES.GCM.SealedBox(nonce: nonce, ciphertext: sealed[0..<cut], tag: sealed[cut...])
            return try AES.GCM.open(box, using: aead)
        } catch {
            throw SealingError.corruptChunk(segment: segment, index: index)
        }
    }

    func sealMetadata(_ plain: [UInt8], header: [UInt8]) throws -> [UInt8] {
        let nonce = try AES.GCM.Nonce(data: SealedFormat.chunkNonce(segment: SealedFormat.metadataSegment, index: 0, last: true))
        let box = try AES.GCM.seal(plain, using: aead, nonce: nonce, authenticating: header)
        return Array(box.ciphertext) + Array(box.tag)
    }

    func openMetadata(_ sealed: ArraySlice<UInt8>, header: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= SealedFormat.tagSize else { throw SealingError.malformed("metadata block too short") }
        do {
            let nonce = try AES.GCM.Nonce(data: SealedFormat.chunkNonce(segment: SealedFormat.metadataSegment, index: 0, last: true))
            let cut = sealed.endIndex - SealedFormat.tagSize
            let box = try AES.GCM.SealedBox(nonce: nonce, ciphertext: sealed[sealed.startIndex..<cut], tag: sealed[cut...])
            return Array(try AES.GCM.open(box, using: aead, authenticating: header))
        } catch {
            throw SealingError.wrongKey("metadata block does not authenticate")
        }
    }
}
