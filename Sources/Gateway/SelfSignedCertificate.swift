import Crypto
import Foundation
import SwiftASN1
import X509

/// A self-signed P-256 certificate for the default HTTPS listener, made on first start and
/// kept in the data directory (key file mode 0600).
public enum SelfSignedCertificate {
    public struct Paths: Sendable {
        public var certificate: String
        public var privateKey: String
    }

    public static func ensure(in directory: String, hosts: [String] = ["localhost"]) throws -> Paths {
        let paths = Paths(certificate: directory + "/tls-cert.pem", privateKey: directory + "/tls-key.pem")
        let fm = FileManager.default
        if fm.fileExists(atPath: paths.certificate), fm.fileExists(atPath: paths.privateKey) {
            return paths
        }
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Passerelle")
            CommonName("passerelle self-signed")
        }
        var names: [GeneralName] = hosts.map { .dnsName($0) }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // Its own trust anchor: BoringSSL (the gateway's own clients, `passerelle login
                // --ca-bundle`) accepts a self-signed certificate as a root only when it may
                // sign certificates, as `openssl req -x509` makes them; path length 0.
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                KeyUsage(digitalSignature: true, keyCertSign: true)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        try SecretFile.write(key.pemRepresentation, to: paths.privateKey)
        try certificate.serializeAsPEM().pemString.write(toFile: paths.certificate, atomically: true, encoding: .utf8)
        return paths
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
