import Foundation

/// Static access keys (root and service keys) and their secrets. Secrets are never logged.
public struct CredentialStore: Sendable {
    private var keys: [String: (name: String, secret: String)]

    /// `keys`: access key id → (principal name for the audit log, secret).
    public init(named keys: [String: (name: String, secret: String)]) {
        self.keys = keys
    }

    public func secret(for accessKey: String) -> String? {
        keys[accessKey]?.secret
    }

    /// The principal an operator key stands for in the audit log.
    public func name(for accessKey: String) -> String {
        keys[accessKey]?.name ?? accessKey
    }
}

/// Whatever prints a store (a failing service's description, a debugger) sees no secret.
extension CredentialStore: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "CredentialStore(\(keys.count) keys, secrets redacted)" }
    public var debugDescription: String { description }
}
