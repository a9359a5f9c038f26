import Access
import ArgumentParser
import AsyncHTTPClient
import Audit
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import TLSPolicy

extension AdminOptions {
    func access() throws -> AccessStore {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return try AccessStore(directory: dataDir)
    }

    func auditLog() throws -> AuditLog {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return try AuditLog(directory: dataDir)
    }

    /// Records an administrative action done from the command line (principal: the OS user).
    func audit(_ action: String, dataset: String? = nil, project: String? = nil, detail: String? = nil, result: String = "ok") async throws {
        try auditLog().append([
            AuditEvent(
                time: Date(), principal: Self.principal, project: project, action: action, dataset: dataset,
                result: result, detail: detail)
        ])
    }

    /// The operator, as the audit log names actions done from the command line.
    static var principal: String { "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown") }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Users: password and TOTP second factor.",
        subcommands: [Add.self, List.self, Disable.self, Enable.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user and enrol a TOTP authenticator (shown once).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "User name.") var name: String
        @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input (else PASSERELLE_PASSWORD, else a prompt).")
        var passwordStdin = false
        @Option(help: "Issuer shown by authenticator apps.") var issuer = "Passerelle"

        func run() async throws {
            let password = try readSecret(stdin: passwordStdin, env: "PASSERELLE_PASSWORD", prompt: "Password for \(name): ")
            guard password.count >= 12 else { throw CommandFailure("the password must have at least 12 characters") }
            let store = try options.access()
            let secret: [UInt8]
            do { secret = try store.addUser(name, password: password, now: Date()) } catch let e as AccessError {
                throw CommandFailure(e.description)
            }
            try await options.audit("user.add", detail: name)
            let uri = TOTP(secret: secret).uri(account: name, issuer: issuer)
            print("created user \(name)")
            print("TOTP secret (base32): \(Base32.encode(secret))")
            print(uri)
            printQR(uri)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let store = try options.access()
            let policy = try options.load().signIn.lockout
            for u in try store.users() {
                let locked = try store.lockedUntil(user: u.name, policy: policy, now: Date())
                let state = u.disabled ? "disabled" : locked.map { "locked until \($0.formatted(.iso8601))" } ?? "active"
                print("\(u.name)\t\(state)\tcreated=\(u.created.formatted(.iso8601))")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: sign-in refused and live sessions lose access at once.")
        @OptionGroup var options: AdminOptions
        @Argument var name: String

        func run() async throws { try await setDisabled(name, true, options) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user.")
        @OptionGroup var options: AdminOptions
        @Argument var name: String

        func run() async throws { try await setDisabled(name, false, options) }
    }

    static func setDisabled(_ name: String, _ disabled: Bool, _ options: AdminOptions) async throws {
        do { try options.access().setDisabled(name, disabled) } catch let e as AccessError { throw CommandFailure(e.description) }
        let verb = disabled ? "disable" : "enable"
        try await options.audit("user." + verb, detail: name)
        print("\(verb)d \(name)")
    }
}

/// A terminal QR code of `text` through `qrencode` when it is installed.
func printQR(_ text: String) {
    fflush(nil)  // what print() buffered goes out before the child writes
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["qrencode", "-t", "ANSIUTF8", text]
    p.standardError = FileHandle.nullDevice
    do {
        try p.run()
        p.waitUntilExit()
        if p.terminationStatus == 0 { return }
    } catch {}
    print("(install qrencode to see this URI as a QR code here)")
}

func readSecret(stdin: Bool, env: String, prompt: String) throws -> String {
    if stdin {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw CommandFailure("no secret on standard input") }
        return line
    }
    if let v = ProcessInfo.processInfo.environment[env], !v.isEmpty { return v }
    guard let p = getpass(prompt) else { throw CommandFailure("no terminal to read the secret from; use \(env) or --password-stdin") }
    return String(cString: p)
}

struct ProjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Research projects: purpose, members, grants, expiry.",
        subcommands: [Create.self, Grant.self, Revoke.self, Member.self, Expire.self, RotatePseudonyms.self, Show.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project with a declared purpose and an expiry.")
        @OptionGroup var options: AdminOptions
        @Argument var name: String
        @Option(help: "The authorised purpose (recorded with every access).") var purpose: String
        @Option(help: "Expiry date (YYYY-MM-DD, UTC) or a number of days from now.") var expires: String
        @Option(help: "Members (comma-separated user names).") var members = ""
        @Option(help: "Declared working hours, UTC (e.g. 7-20), for the off-hours rule.") var hours: String?

        func run() async throws {
            let expiry = try parseExpiry(expires)
            let hoursRange = try hours.map { h in
                guard let r = AccessStore.hours(h) else { throw CommandFailure("--hours: expected START-END with 0 ≤ START < END ≤ 24") }
                return r
            }
            let p = Project(
                name: name, purpose: purpose, expires: expiry,
                members: Set(members.split(separator: ",").map(String.init)), hours: hoursRange)
            do { try options.access().createProject(p, now: Date()) } catch let e as AccessError { throw CommandFailure(e.description) }
            try await options.audit(
                "project.create", project: name, detail: "purpose: \(purpose); expires \(expiry.formatted(.iso8601)); members \(members)")
            print("created project \(name), expires \(expiry.formatted(.iso8601))")
        }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant actions on a dataset (or a prefix of it) to a project.")
        @OptionGroup var options: AdminOptions
        @Argument var project: String
        @Option(help: "Dataset (bucket).") var dataset: String
        @Option(help: "Only keys under this prefix.") var prefix = ""
        @Option(help: "Comma-separated: read, list, write, delete.") var actions = "read,list"
        @Flag(help: "Read the stored bytes, not a view (refused on identifying datasets).") var raw = false

        func run() async throws {
            var set = Set<AccessAction>()
            for a in actions.split(separator: ",") {
                guard let action = AccessAction(rawValue: String(a)) else { throw CommandFailure("unknown action '\(a)': read, list, write, delete") }
                set.insert(action)
            }
            if raw, set.contains(.read), try await options.catalog().sensitivity(of: dataset) == .identifying {
                try await options.audit("grant", dataset: dataset, project: project, detail: "raw read of an identifying dataset", result: "denied")
                throw CommandFailure("dataset \(dataset) is identifying: a project reads it only through its view (passerelle view set), never raw")
            }
            do { try options.access().grant(project, Access.Grant(dataset: dataset, prefix: prefix, actions: set)) } catch let e as AccessError {
                throw CommandFailure(e.description)
            }
            try await options.audit("grant", dataset: dataset, project: project, detail: "prefix '\(prefix)': \(actions)")
            print("granted \(actions) on \(dataset)/\(prefix) to \(project)")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a project's grant on a dataset (takes effect on the next request).")
        @OptionGroup var options: AdminOptions
        @Argument var project: String
        @Option var dataset: String
        @Option var prefix = ""

        func run() async throws {
            let existed: Bool
            do { existed = try options.access().revoke(project, dataset: dataset, prefix: prefix) } catch let e as AccessError {
                throw CommandFailure(e.description)
            }
            guard existed else { throw CommandFailure("project \(project) has no grant on \(dataset)/\(prefix)") }
            try await options.audit("revoke", dataset: dataset, project: project, detail: "prefix '\(prefix)'")
            print("revoked \(dataset)/\(prefix) from \(project)")
        }
    }

    struct Member: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add or remove a project member.")
        @OptionGroup var options: AdminOptions
        @Argument var project: String
        @Option var add: String?
        @Option var remove: String?

        func run() async throws {
            let store = try options.access()
            do {
                if let add { try store.setMember(project, user: add, member: true) }
                if let remove { try store.setMember(project, user: remove, member: false) }
            } catch let e as AccessError { throw CommandFailure(e.description) }
            try await options.audit("project.member", project: project, detail: "add \(add ?? "-"), remove \(remove ?? "-")")
            print("members of \(project): \(try store.project(project)?.members.sorted().joined(separator: ", ") ?? "")")
        }
    }

    struct Expire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a project's expiry ('now' ends its access at once).")
        @OptionGroup var options: AdminOptions
        @Argument var project: String
        @Argument(help: "YYYY-MM-DD, a number of days, or now.") var when: String

        func run() async throws {
            let date = when == "now" ? Date() : try parseExpiry(when)
            do { try options.access().setExpiry(project, date) } catch let e as AccessError { throw CommandFailure(e.description) }
            try await options.audit("project.expire", project: project, detail: date.formatted(.iso8601))
            print("project \(project) expires \(date.formatted(.iso8601))")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a project.")
        @OptionGroup var options: AdminOptions
        @Argument var project: String

        func run() async throws {
            guard let p = try options.access().project(project) else { throw CommandFailure("no project \(project)") }
            print("project \(p.name)\n  purpose: \(p.purpose)\n  expires: \(p.expires.formatted(.iso8601))\(p.expires < Date() ? " (expired)" : "")")
            print("  members: \(p.members.sorted().joined(separator: ", "))")
            if let h = p.hours { print("  hours: \(h.lowerBound)-\(h.upperBound) UTC") }
            for g in p.grants {
                print("  grant: \(g.dataset)/\(g.prefix) \(AccessAction.allCases.filter(g.actions.contains).map(\.rawValue).joined(separator: ","))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            for p in try options.access().projects() {
                print("\(p.name)\texpires \(p.expires.formatted(.iso8601))\t\(p.members.count) members\t\(p.grants.count) grants\t\(p.purpose)")
            }
        }
    }
}

func parseExpiry(_ text: String) throws -> Date {
    if let days = Double(text) { return Date().addingTimeInterval(days * 86400) }
    guard let d = try? Date(text + "T00:00:00Z", strategy: .iso8601) else { throw CommandFailure("expected YYYY-MM-DD or a number of days: \(text)") }
    return d
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign in with password and TOTP for one project; prints short-lived S3 credentials.",
        discussion:
            "--format env prints export lines for a shell; json the credentials; credential-process the JSON awscli and boto3 read from a "
            + "credential_process."
    )
    @Option(help: "The gateway.") var endpoint = "http://127.0.0.1:9000"
    @Option var user: String
    @Option var project: String
    @Option(help: "The current code of the authenticator (else a prompt).") var totp: String?
    @Flag(name: .customLong("password-stdin")) var passwordStdin = false
    @Option(help: "Session lifetime in seconds (the gateway caps it).") var duration: Int?
    @Option(help: "env, json or credential-process.") var format = "env"
    @Option(name: .customLong("ca-bundle"), help: "CA certificate (PEM) for an HTTPS endpoint.") var caBundle: String?

    func run() async throws {
        let password = try readSecret(stdin: passwordStdin, env: "PASSERELLE_PASSWORD", prompt: "Password: ")
        let code = try totp ?? readSecret(stdin: false, env: "PASSERELLE_TOTP", prompt: "TOTP code: ")
        var body: [String: any Sendable] = ["user": user, "password": password, "totp": code, "project": project]
        if let duration { body["duration_seconds"] = duration }
        var tls = TLSPolicy.client()
        if let caBundle { tls.trustRoots = .file(caBundle) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { _ = client.shutdown() }
        var request = HTTPClientRequest(url: endpoint.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/session")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let response = try await client.execute(request, timeout: .seconds(30))
        let data = Data(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok, let creds = try? JSONDecoder().decode(SessionAuthority.Credentials.self, from: data) else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? String ?? "HTTP \(response.status.code)"
            throw CommandFailure(message)
        }
        switch format {
        case "json":
            print(String(decoding: data, as: UTF8.self))
        case "credential-process":
            let out: [String: any Sendable] = [
                "Version": 1, "AccessKeyId": creds.accessKeyId, "SecretAccessKey": creds.secretAccessKey,
                "SessionToken": creds.sessionToken, "Expiration": creds.expiration,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
        default:
            print("export AWS_ACCESS_KEY_ID=\(creds.accessKeyId)")
            print("export AWS_SECRET_ACCESS_KEY=\(creds.secretAccessKey)")
            print("export AWS_SESSION_TOKEN=\(creds.sessionToken)")
            print("# project \(creds.project), expires \(creds.expiration)")
        }
    }
}
