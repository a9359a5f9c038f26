import Foundation

/// Static access keys (root and service keys) and their secrets. Secrets are never logged.
public struct CredentialStore: Sendable {
    private var secrets: [String: String]

    public init(_ secrets: [String: String]) {
        self.secrets = secrets
    }

    public func secret(for accessKey: String) -> String? {
        secrets[accessKey]
    }
}
