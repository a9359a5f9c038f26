import Foundation

/// Who this gateway is, for what it holds in a shared catalog (journal claims, intents): an id
/// kept in the data directory, and an instance name unique to this process, under that id. At
/// start the gateway takes back what its earlier instances left (their claims, their intents);
/// what other gateways hold is theirs until it expires.
struct GatewayIdentity: Sendable {
    let id: String
    let instance: String

    static func load(dataDirectory: String) throws -> GatewayIdentity {
        let path = dataDirectory + "/gateway-id"
        var id = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if id.isEmpty {
            id = "gw-" + UUID().uuidString.lowercased()
            try SecretFile.write(id + "\n", to: path)
        }
        return GatewayIdentity(id: id, instance: "\(id)/\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())")
    }
}
