import NIOSSL

/// The TLS every connection of Passerelle uses, serving clients or reaching backends and
/// PostgreSQL: TLS 1.2 or 1.3 only, and in TLS 1.2 only ECDHE key exchange with AEAD ciphers
/// (AES-GCM, ChaCha20-Poly1305), as ANSSI's "Recommandations de sécurité relatives à TLS"
/// (v1.2, R3–R7 and its cipher-suite table) require: forward secrecy, authenticated
/// encryption, no CBC, no SHA-1 MAC, no RSA key exchange. TLS 1.3 suites are all AEAD and
/// not configurable in BoringSSL.
public enum TLSPolicy {
    public static let minimumVersion = TLSVersion.tlsv12

    /// The TLS 1.2 suites, strongest first (OpenSSL names).
    public static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    ]

    /// A client configuration (system trust roots unless the caller sets others).
    public static func client() -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        apply(&tls)
        return tls
    }

    public static func server(certificateChain: [NIOSSLCertificateSource], privateKey: NIOSSLPrivateKeySource) -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: certificateChain, privateKey: privateKey)
        apply(&tls)
        return tls
    }

    static func apply(_ tls: inout TLSConfiguration) {
        tls.minimumTLSVersion = minimumVersion
        tls.cipherSuites = tls12CipherSuites.joined(separator: ":")
    }
}
