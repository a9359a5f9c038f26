import Crypto
import Foundation

/// A dataset key-encryption key: one version of the dataset's KEK, from the keyring.
public struct KEK: Sendable {
    public let id: String
    public let version: UInt32
    let key: SymmetricKey

    public init(id: String, version: UInt32, key: SymmetricKey) throws {
        guard !id.isEmpty, id.utf8.count <= Envelope.maxKEKID, key.bitCount == 256 else { throw SealingError.malformed("KEK id or size") }
        self.id = id
        self.version = version
        self.key = key
    }

    /// AES-256-GCM(KEK, random 96-bit nonce, DEK, AAD = label ‖ id length ‖ id ‖ version ‖ object
    /// nonce): 12-byte nonce ‖ 32-byte ciphertext ‖ 16-byte tag. The AAD binds the wrapped key to
    /// its KEK version and to its object.
    public func wrap(_ dek: SymmetricKey, objectNonce: [UInt8], wrapNonce: [UInt8]? = nil) throws -> WrappedKey {
        let nonce = try AES.GCM.Nonce(data: wrapNonce ?? (0..<12).map { _ in UInt8.random(in: 0...255) })
        let box = try dek.withUnsafeBytes { try AES.GCM.seal($0, using: key, nonce: nonce, authenticating: aad(objectNonce)) }
        return WrappedKey(kekID: id, version: version, bytes: Array(nonce) + Array(box.ciphertext) + Array(box.tag))
    }

    public func unwrap(_ wrapped: WrappedKey, objectNonce: [UInt8]) throws -> SymmetricKey {
        guard wrapped.kekID == id, wrapped.version == version, wrapped.bytes.count == WrappedKey.size else {
            throw SealingError.wrongKey("wrapped key is not for \(id) v\(version)")
        }
        do {
            let b = wrapped.bytes
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: b[0..<12]), ciphertext: b[12..<44], tag: b[44..<60])
            return SymmetricKey(data: try AES.GCM.open(box, using: key, authenticating: aad(objectNonce)))
        } catch {
            throw SealingError.wrongKey("the data key does not unwrap under \(id) v\(version)")
        }
    }

    private func aad(_ objectNonce: [UInt8]) -> [UInt8] {
        Array("passerelle/sealed/v1/dek".utf8) + [UInt8(id.utf8.count)] + Array(id.utf8) + Envelope.be32(version) + objectNonce
    }
}

/// An object's DEK wrapped under one KEK version.
public struct WrappedKey: Sendable, Equatable, Codable {
    public static let size = 60
    public var kekID: String
    public var version: UInt32
    public var bytes: [UInt8]

    public init(kekID: String, version: UInt32, bytes: [UInt8]) {
        self.kekID = kekID
        self.version = version
        self.bytes = bytes
    }
}

/// What the metadata block says about the object (everything a catalog row needs).
public struct SealedMetadata: Sendable, Equatable, Codable {
    /// The payload's object id, so an envelope cannot be passed off as another object's.
    public var object: String
    public var key: String
    public var size: Int64
    public var etag: String
    /// Seconds since 1970.
    public var lastModified: Double
    public var contentType: String?
    public var headers: [String: String]
    public var user: [String: String]
    public var checksumAlgorithm: String?
    public var checksum: String?
    public var checksumType: String?
    public var partsCount: Int?
    public var segments: [Segment]

    public init(
        object: String, key: String, size: Int64, etag: String, lastModified: Double, contentType: String?,
        headers: [String: String], user: [String: String], checksumAlgorithm: String?, checksum: String?,
        checksumType: String?, partsCount: Int?, segments: [Segment]
    ) {
        self.object = object
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.contentType = contentType
        self.headers = headers
        self.user = user
        self.checksumAlgorithm = checksumAlgorithm
        self.checksum = checksum
        self.checksumType = checksumType
        self.partsCount = partsCount
        self.segments = segments
    }
}

/// The header object of a sealed object: fixed header, then the authenticated metadata block.
///
///     0    4  magic "PSLD"
///     4    2  format version (big-endian), 1
///     6    2  reserved, 0
///     8   32  object nonce (HKDF salt)
///    40   32  key commitment
///    72    1  KEK id length L (1...64)
///    73   64  KEK id, UTF-8, zero-padded
///   137    4  KEK version (big-endian)
///   141   60  wrapped DEK
///   201    4  metadata block length M (big-endian)
///   205    M  metadata block: AES-256-GCM(object key, nonce FFFFFF ‖ 0⁸ ‖ 01, JSON, AAD = bytes 0..<72)
///
/// The wrapped DEK sits outside the metadata block's AAD, so rotation rewrites only it.
public struct Envelope: Sendable, Equatable {
    public static let magic = Array("PSLD".utf8)
    public static let maxKEKID = 64
    public static let fixedSize = 205
    static let maxMetadata = 16 << 20

    public var version: UInt16
    public var nonce: [UInt8]
    public var commitment: [UInt8]
    public var wrapped: WrappedKey
    public var metadataBlock: [UInt8]

    public static func seal(keys: ObjectKeys, wrapped: WrappedKey, metadata: SealedMetadata) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = Array(try encoder.encode(metadata))
        let head = authenticatedHead(version: SealedFormat.version, nonce: keys.nonce, commitment: keys.commitment)
        let block = try keys.sealMetadata(json, header: head)
        return Envelope(version: SealedFormat.version, nonce: keys.nonce, commitment: keys.commitment, wrapped: wrapped, metadataBlock: block).bytes
    }

    static func authenticatedHead(version: UInt16, nonce: [UInt8], commitment: [UInt8]) -> [UInt8] {
        magic + [UInt8(version >> 8), UInt8(version & 0xFF), 0, 0] + nonce + commitment
    }

    public var bytes: [UInt8] {
        var out = Self.authenticatedHead(version: version, nonce: nonce, commitment: commitment)
        let id = Array(wrapped.kekID.utf8)
        out.append(UInt8(id.count))
        out += id + [UInt8](repeating: 0, count: Self.maxKEKID - id.count)
        out += Self.be32(wrapped.version) + wrapped.bytes + Self.be32(UInt32(metadataBlock.count)) + metadataBlock
        return out
    }

    /// Parses the structure; nothing is authenticated yet (see `open`).
    public init(parsing b: [UInt8]) throws {
        guard b.count >= Self.fixedSize, Array(b[0..<4]) == Self.magic else { throw SealingError.malformed("not a sealed header (magic)") }
        version = UInt16(b[4]) << 8 | UInt16(b[5])
        guard version == SealedFormat.version else { throw SealingError.unsupportedVersion(version) }
        guard b[6] == 0, b[7] == 0 else { throw SealingError.malformed("reserved bytes") }
        nonce = Array(b[8..<40])
        commitment = Array(b[40..<72])
        let idLength = Int(b[72])
        guard (1...Self.maxKEKID).contains(idLength), let id = String(validating: b[73..<(73 + idLength)], as: UTF8.self) else {
            throw SealingError.malformed("KEK id")
        }
        guard b[(73 + idLength)..<137].allSatisfy({ $0 == 0 }) else { throw SealingError.malformed("KEK id padding") }
        let kekVersion = Self.readBE32(b, 137)
        wrapped = WrappedKey(kekID: id, version: kekVersion, bytes: Array(b[141..<201]))
        let m = Int(Self.readBE32(b, 201))
        guard m <= Self.maxMetadata, b.count == Self.fixedSize + m else { throw SealingError.malformed("metadata block length") }
        metadataBlock = Array(b[Self.fixedSize...])
    }

    init(version: UInt16, nonce: [UInt8], commitment: [UInt8], wrapped: WrappedKey, metadataBlock: [UInt8]) {
        self.version = version
        self.nonce = nonce
        self.commitment = commitment
        self.wrapped = wrapped
        self.metadataBlock = metadataBlock
    }

    /// Checks the key commitment, then authenticates and decodes the metadata block.
    public func open(dek: SymmetricKey) throws -> SealedMetadata {
        let keys = try ObjectKeys(dek: dek, nonce: nonce)
        try keys.verify(commitment: commitment)
        let json = try keys.openMetadata(metadataBlock[...], header: Self.authenticatedHead(version: version, nonce: nonce, commitment: commitment))
        do {
            return try JSONDecoder().decode(SealedMetadata.self, from: Data(json))
        } catch {
            throw SealingError.malformed("metadata block: \(error)")
        }
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }

    static func readBE32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }
}
