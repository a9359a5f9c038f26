import ArgumentParser
import Foundation

@main
struct Passerelle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passerelle",
        abstract: "Sovereign data bridge: one S3 front door over any backend.",
        subcommands: [
            Serve.self, BackendCommand.self, DatasetCommand.self, KeysCommand.self, CatalogCommand.self, MigrateCommand.self, UserCommand.self,
            ProjectCommand.self, Login.self, AuditCommand.self, CDCCommand.self, ViewCommand.self, OptOutCommand.self, Bench.self,
        ])

    static func main() async {
        // Whatever this process creates (databases and their journals, keys, objects, reports)
        // is readable by its own user only; files meant to be shared are given out explicitly.
        umask(0o077)
        await main(nil)
    }
}

/// `HOST:PORT`, with `[v6]:PORT` for IPv6 literals.
struct HostPort: ExpressibleByArgument, Sendable {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}
