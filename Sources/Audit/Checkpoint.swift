import Crypto
import Foundation

/// A C2SP `tlog-checkpoint`: origin, tree size and root hash, one per line.
public struct Checkpoint: Sendable, Equatable {
    public var origin: String
    public var size: UInt64
    public var root: MerkleTree.Hash

    public init(origin: String, size: UInt64, root: MerkleTree.Hash) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note text: `origin\nsize\nbase64(root)\n`.
    public var text: String {
        "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\n"
    }

    public static func parse(text: String) throws(NoteError) -> Checkpoint {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, lines.last == "", !lines[0].isEmpty,
            let size = UInt64(lines[1]), String(size) == lines[1],
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else { throw NoteError("not a checkpoint: expected origin, decimal tree size and base64 root hash lines") }
        return Checkpoint(origin: String(lines[0]), size: size, root: Array(root))
    }
}

/// A C2SP `signed-note` signer with ECDSA P-256 (signature type 0x02, as implemented by
/// transparency-dev/witness and Rekor): key ID = SHA-256(DER SubjectPublicKeyInfo)[:4], the
/// signature is ASN.1 DER ECDSA-SHA256 over the note text.
public struct NoteSigner: Sendable {
    public let name: String
    let key: P256.Signing.PrivateKey
    /// Computed once: every append signs a checkpoint.
    let keyID: [UInt8]

    public init(name: String, key: P256.Signing.PrivateKey) throws(NoteError) {
        guard NoteVerifier.validName(name) else { throw NoteError("a key name must be non-empty, without spaces or '+'") }
        self.name = name
        self.key = key
        keyID = NoteVerifier(name: name, key: key.publicKey).keyID
    }

    public var verifier: NoteVerifier {
        NoteVerifier(name: name, key: key.publicKey)
    }

    /// The signed note: text, blank line, `— name base64(keyID ‖ signature)`.
    public func sign(_ text: String) throws -> String {
        let signature = try key.signature(for: Data(text.utf8)).derRepresentation
        return text + "\n" + "\u{2014} \(name) " + Data(keyID + signature).base64EncodedString() + "\n"
    }
}

public struct NoteVerifier: Sendable {
    public let name: String
    public let key: P256.Signing.PublicKey

    public init(name: String, key: P256.Signing.PublicKey) {
        self.name = name
        self.key = key
    }

    public var keyID: [UInt8] {
        Array(SHA256.hash(data: key.derRepresentation).prefix(4))
    }

    var keyIDHex: String { Hex.encode(keyID) }

    /// `name+hex(keyID)+base64(0x02 ‖ SPKI)`, the verifier-key string of the note ecosystem.
    public var encoded: String {
        "\(name)+\(keyIDHex)+\(Data([0x02] + key.derRepresentation).base64EncodedString())"
    }

    public init(encoded: String) throws(NoteError) {
        let parts = encoded.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let raw = Data(base64Encoded: String(parts[2])), raw.first == 0x02,
            let key = try? P256.Signing.PublicKey(derRepresentation: Data(raw.dropFirst()))
        else { throw NoteError("not an ECDSA P-256 note verifier key (name+keyid+base64(0x02 || SPKI))") }
        self.init(name: String(parts[0]), key: key)
        guard keyIDHex == parts[1] else { throw NoteError("the verifier key's ID does not match its key") }
    }

    static func validName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains(where: { $0 == " " || $0 == "+" || $0 == "\n" || $0 == "\u{2014}" })
    }

    /// Returns the note text when a signature line by this key verifies. A signature line of
    /// this key that does not verify rejects the note (C2SP signed-note §Signatures).
    public func open(_ note: String) throws(NoteError) -> String {
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            throw NoteError("not a signed note: no blank line before the signatures")
        }
        let text = String(note[..<split.lowerBound]) + "\n"
        let signatures = note[split.upperBound...]
        guard signatures.hasSuffix("\n") else { throw NoteError("signature lines must end with a newline") }
        var verified = false
        for line in signatures.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] == "\u{2014}" else { throw NoteError("malformed signature line") }
            guard let raw = Data(base64Encoded: String(fields[2])), raw.count > 4 else { throw NoteError("malformed signature") }
            guard fields[1] == name, Array(raw.prefix(4)) == keyID else { continue }
            guard let sig = try? P256.Signing.ECDSASignature(derRepresentation: raw.dropFirst(4)),
                key.isValidSignature(sig, for: Data(text.utf8))
            else { throw NoteError("the signature by \(name) does not verify: the note was altered or forged") }
            verified = true
        }
        guard verified else { throw NoteError("the note carries no signature by \(name)") }
        return text
    }
}

public struct NoteError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
