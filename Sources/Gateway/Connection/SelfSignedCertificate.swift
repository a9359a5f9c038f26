import Crypto
import Foundation
import S3Protocol
import SwiftASN1
import X509

/// The default HTTPS listener's certificate, made on first start and kept in the data directory.
///
/// A server certificate (CA:FALSE, serverAuth, key in `tls-key.pem`, mode 0600) issued by a
/// one-off local CA whose private key is thrown away once it has signed: `tls-cert.pem` holds
/// both, so clients pass it as their trust anchor (`--ca-bundle`) and verify the chain as with
/// any CA. Self-signed server certificates marked CA:TRUE (what BoringSSL requires of a root)
/// would let whoever steals the server key mint certificates for any name, trusted by every
/// client that trusts this file; a CA key that no longer exists mints nothing.
public enum SelfSignedCertificate {
    public struct Paths: Sendable {
        public var certificate: String
        public var privateKey: String
    }

    /// Returns the certificate files, making them if absent, or replacing a certificate of an
    /// earlier version that was its own CA (`replaced`).
    public static func ensure(in directory: String, hosts: [String] = ["localhost"]) throws -> (paths: Paths, replaced: Bool) {
        let paths = Paths(certificate: directory + "/tls-cert.pem", privateKey: directory + "/tls-key.pem")
        let fm = FileManager.default
        var replaced = false
        if fm.fileExists(atPath: paths.certificate), fm.fileExists(atPath: paths.privateKey) {
            guard try isOwnCA(pemFile: paths.certificate) else { return (paths, false) }
            replaced = true
        }
        let (chain, key) = try issue(hosts: hosts)
        try SecretFile.write(key.pemRepresentation, to: paths.privateKey)
        try chain.map { try $0.serializeAsPEM().pemString + "\n" }.joined().write(toFile: paths.certificate, atomically: true, encoding: .utf8)
        return (paths, replaced)
    }

    /// A server certificate and the one-off CA certificate that issued it, and the server key.
    static func issue(hosts: [String], now: Date = Date()) throws -> ([Certificate], P256.Signing.PrivateKey) {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("Passerelle")
            CommonName("passerelle local CA \(Hex.encode((0..<4).map { _ in UInt8.random(in: 0...255) }))")
        }
        let caPublic = Certificate.PublicKey(caKey.publicKey)
        let validity = (now.addingTimeInterval(-3600), now.addingTimeInterval(10 * 365 * 86_400))
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: caPublic,
            notValidBefore: validity.0, notValidAfter: validity.1, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
                SubjectKeyIdentifier(hash: caPublic)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))
        let key = P256.Signing.PrivateKey()
        var names: [GeneralName] = hosts.map { .dnsName($0) }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: validity.0, notValidAfter: validity.1, issuer: caName,
            subject: try DistinguishedName {
                OrganizationName("Passerelle")
                CommonName("passerelle gateway")
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caPublic).keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))
        return ([leaf, ca], key)
    }

    /// Whether the file's first certificate is a CA (what versions before this one made).
    static func isOwnCA(pemFile: String) throws -> Bool {
        let text = try String(contentsOfFile: pemFile, encoding: .utf8)
        guard let end = text.range(of: "-----END CERTIFICATE-----") else { return false }
        let first = try Certificate(pemEncoded: String(text[..<end.upperBound]))
        if case .isCertificateAuthority = try first.extensions.basicConstraints { return true }
        return false
    }
}

/// Writes small secret files atomically with mode 0600 from the start (no window where the
/// file is readable by others).
public enum SecretFile {
    public static func write(_ text: String, to path: String) throws {
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard n == bytes.count, rename(temp, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}
