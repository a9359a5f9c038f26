import Crypto
import Foundation
import GRDB

/// A user as stored: the password hash, the TOTP secret sealed under the local access key and
/// the last TOTP step accepted (codes are one-time). Failed sign-ins are counted apart
/// (`reserveAttempt`), by name, whether or not the user exists.
public struct UserRecord: Sendable, Equatable {
    public var name: String
    public var passwordHash: String
    public var sealedTOTP: Data
    public var lastStep: UInt64?
    public var disabled: Bool
    public var created: Date
}

/// Users, projects, members and grants in `access.sqlite` (`synchronous=FULL`), shared by the
/// gateway and the CLI. The local secret (`access-secret`) seals TOTP secrets at rest and keys
/// the session tokens.
public final class AccessStore: Sendable {
    let queue: DatabaseQueue
    public let master: SymmetricKey

    public init(directory: String) throws {
        let secretPath = directory + "/access-secret"
        if let raw = FileManager.default.contents(atPath: secretPath), raw.count == 32 {
            master = SymmetricKey(data: raw)
        } else {
            let key = SymmetricKey(size: .bits256)
            guard
                FileManager.default.createFile(
                    atPath: secretPath, contents: key.withUnsafeBytes { Data($0) },
                    attributes: [.posixPermissions: 0o600])
            else {
                throw AccessError("cannot write \(secretPath)")
            }
            master = key
        }
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: directory + "/access.sqlite", configuration: config)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password TEXT NOT NULL, totp BLOB NOT NULL,
                        last_step INTEGER, failures INTEGER NOT NULL DEFAULT 0, last_failure REAL, disabled INTEGER NOT NULL DEFAULT 0,
                        created REAL NOT NULL);
                    CREATE TABLE IF NOT EXISTS projects (name TEXT PRIMARY KEY, purpose TEXT NOT NULL, expires REAL NOT NULL,
                        hours TEXT, created REAL NOT NULL);
                    CREATE TABLE IF NOT EXISTS members (project TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (project, user)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS grants (project TEXT NOT NULL, dataset TEXT NOT NULL, prefix TEXT NOT NULL,
                        actions TEXT NOT NULL, PRIMARY KEY (project, dataset, prefix)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS sign_in_failures (subject TEXT PRIMARY KEY, failures INTEGER NOT NULL,
                        last_failure REAL NOT NULL) WITHOUT ROWID;
                    """)
            try createPrivacyTables(db)
        }
    }

    public var sessions: SessionAuthority { SessionAuthority(master: master) }

    /// A consistent copy taken while the store is in use (SQLite online backup).
    public func backup(to path: String) throws {
        try queue.backup(to: DatabaseQueue(path: path))
    }

    var totpKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Array("passerelle/totp-secret/v1".utf8), outputByteCount: 32)
    }

    // MARK: users

    /// Creates a user with a fresh TOTP secret; returns the secret (shown once, for enrolment).
    public func addUser(_ name: String, password: String, now: Date) throws -> [UInt8] {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) }) else {
            throw AccessError("a user name is letters, digits and - _ . @")
        }
        let secret = (0..<20).map { _ in UInt8.random(in: 0...255) }
        guard let sealed = try AES.GCM.seal(secret, using: totpKey, authenticating: Array(name.utf8)).combined else {
            throw AccessError("cannot seal the TOTP secret")
        }
        let hash = try PasswordHash.make(password)
        try queue.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [name]) == nil else {
                throw AccessError("user \(name) exists")
            }
            try db.execute(
                sql: "INSERT INTO users (name, password, totp, created) VALUES (?, ?, ?, ?)",
                arguments: [name, hash, sealed, now.timeIntervalSince1970])
        }
        return secret
    }

    public func user(_ name: String) throws -> UserRecord? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE name = ?", arguments: [name]).map(Self.user)
        }
    }

    public func users() throws -> [UserRecord] {
        try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY name").map(Self.user) }
    }

    static func user(_ r: Row) -> UserRecord {
        UserRecord(
            name: r["name"], passwordHash: r["password"], sealedTOTP: r["totp"], lastStep: (r["last_step"] as Int64?).map(UInt64.init),
            disabled: r["disabled"], created: Date(timeIntervalSince1970: r["created"]))
    }

    public func totp(of user: UserRecord) throws -> TOTP {
        let secret = try AES.GCM.open(AES.GCM.SealedBox(combined: user.sealedTOTP), using: totpKey, authenticating: Array(user.name.utf8))
        return TOTP(secret: Array(secret))
    }

    public func setDisabled(_ name: String, _ disabled: Bool) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE users SET disabled = ? WHERE name = ?", arguments: [disabled, name])
            guard db.changesCount == 1 else { throw AccessError("no user \(name)") }
        }
    }

    /// Records an accepted TOTP step, only if it is newer than the last one (two concurrent
    /// logins with one code: one wins).
    public func acceptStep(_ name: String, step: UInt64) throws -> Bool {
        try queue.write { db in
            try db.execute(
                sql: "UPDATE users SET last_step = ? WHERE name = ? AND (last_step IS NULL OR last_step < ?)",
                arguments: [step, name, step])
            return db.changesCount == 1
        }
    }

    // MARK: sign-in attempts

    public typealias Reservation = SignInReservation

    /// Counts an attempt of `user` from `address` as a failure *before* its password and code
    /// are checked, unless one of its counts says to wait. One write transaction reads and
    /// increments every count (SQLite runs one writer at a time; a database with concurrent
    /// writers needs the rows locked, `SELECT … FOR UPDATE`), so N concurrent guesses count as
    /// N and at most the allowed number are ever checked. Runs on GRDB's queue, off the
    /// request threads, as it waits for the disk.
    public func reserveAttempt(user: String, address: String, policy: LockoutPolicy, now: Date) async throws -> Reservation {
        let subjects = LockoutPolicy.subjects(user: user, address: address)
        return try await queue.write { db in
            var counts: [LockoutPolicy.Subject: FailureCount] = [:]
            for s in subjects {
                counts[s] = policy.current(try Self.failureCount(db, s), now: now)
            }
            let locks = subjects.compactMap { s in counts[s].flatMap { policy.lockedUntil(s, $0, now: now) }.map { (s, $0) } }
            if let (subject, until) = locks.max(by: { $0.1 < $1.1 }) { return .delayed(until: until, subject: subject) }
            for s in subjects {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO sign_in_failures (subject, failures, last_failure) VALUES (?, ?, ?)",
                    arguments: [s.key, (counts[s]?.failures ?? 0) + 1, now.timeIntervalSince1970])
            }
            // Counts nobody renewed for a day or more go, so guessed names do not pile up.
            if Int.random(in: 0..<256) == 0 {
                try db.execute(
                    sql: "DELETE FROM sign_in_failures WHERE last_failure < ?",
                    arguments: [now.timeIntervalSince1970 - policy.forgetAfter])
            }
            return .granted
        }
    }

    /// A reserved attempt succeeded: the user's counts are cleared, and the address gets back
    /// the one it was charged.
    public func release(user: String, address: String) async throws {
        try await queue.write { db in
            for s in [LockoutPolicy.Subject.userAtAddress(user, address), .user(user)] {
                try db.execute(sql: "DELETE FROM sign_in_failures WHERE subject = ?", arguments: [s.key])
            }
            try db.execute(
                sql: "UPDATE sign_in_failures SET failures = MAX(0, failures - 1) WHERE subject = ?",
                arguments: [LockoutPolicy.Subject.address(address).key])
        }
    }

    /// A reserved attempt was never checked (no room to hash it): its counts are taken back.
    public func unreserve(user: String, address: String) async throws {
        try await queue.write { db in
            for s in LockoutPolicy.subjects(user: user, address: address) {
                try db.execute(sql: "UPDATE sign_in_failures SET failures = MAX(0, failures - 1) WHERE subject = ?", arguments: [s.key])
            }
        }
    }

    /// Until when sign-ins of `user` wait, from anywhere or from some address (for `user list`).
    public func lockedUntil(user: String, policy: LockoutPolicy, now: Date) throws -> Date? {
        try queue.read { db in
            var until: Date?
            if let c = try Self.failureCount(db, .user(user)) { until = policy.lockedUntil(.user(user), c, now: now) }
            let prefix = LockoutPolicy.Subject.userAtAddress(user, "").key
            let pairs = try Row.fetchAll(
                db, sql: "SELECT failures, last_failure FROM sign_in_failures WHERE substr(subject, 1, ?) = ?",
                arguments: [prefix.unicodeScalars.count, prefix])  // SQLite counts code points
            for r in pairs {
                let c = FailureCount(failures: r["failures"], last: Date(timeIntervalSince1970: r["last_failure"]))
                if let u = policy.lockedUntil(.userAtAddress(user, ""), c, now: now), u > (until ?? .distantPast) { until = u }
            }
            return until
        }
    }

    static func failureCount(_ db: Database, _ s: LockoutPolicy.Subject) throws -> FailureCount? {
        try Row.fetchOne(db, sql: "SELECT failures, last_failure FROM sign_in_failures WHERE subject = ?", arguments: [s.key]).map {
            FailureCount(failures: $0["failures"], last: Date(timeIntervalSince1970: $0["last_failure"]))
        }
    }

    // MARK: projects

    public func createProject(_ p: Project, now: Date) throws {
        try queue.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM projects WHERE name = ?", arguments: [p.name]) == nil else {
                throw AccessError("project \(p.name) exists")
            }
            try db.execute(
                sql: "INSERT INTO projects (name, purpose, expires, hours, created) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    p.name, p.purpose, p.expires.timeIntervalSince1970, p.hours.map { "\($0.lowerBound)-\($0.upperBound)" },
                    now.timeIntervalSince1970,
                ])
            for m in p.members { try Self.addMember(db, p.name, m) }
            for g in p.grants { try Self.putGrant(db, p.name, g) }
        }
    }

    public func project(_ name: String) throws -> Project? {
        try queue.read { db in try Self.project(db, name) }
    }

    public func projects() throws -> [Project] {
        try queue.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM projects ORDER BY name").compactMap { try Self.project(db, $0) }
        }
    }

    static func project(_ db: Database, _ name: String) throws -> Project? {
        guard let r = try Row.fetchOne(db, sql: "SELECT * FROM projects WHERE name = ?", arguments: [name]) else { return nil }
        let members = try String.fetchAll(db, sql: "SELECT user FROM members WHERE project = ?", arguments: [name])
        let grants = try Row.fetchAll(db, sql: "SELECT * FROM grants WHERE project = ? ORDER BY dataset, prefix", arguments: [name]).map { g in
            Grant(
                dataset: g["dataset"], prefix: g["prefix"],
                actions: Set((g["actions"] as String).split(separator: ",").compactMap { AccessAction(rawValue: String($0)) }))
        }
        let hours = (r["hours"] as String?).flatMap(Self.hours)
        return Project(
            name: name, purpose: r["purpose"], expires: Date(timeIntervalSince1970: r["expires"]),
            members: Set(members), grants: grants, hours: hours)
    }

    public static func hours(_ text: String) -> Range<Int>? {
        let p = text.split(separator: "-")
        guard p.count == 2, let a = Int(p[0]), let b = Int(p[1]), 0 <= a, a < b, b <= 24 else { return nil }
        return a..<b
    }

    static func addMember(_ db: Database, _ project: String, _ user: String) throws {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [user]) != nil else {
            throw AccessError("no user \(user)")
        }
        try db.execute(sql: "INSERT OR IGNORE INTO members (project, user) VALUES (?, ?)", arguments: [project, user])
    }

    static func putGrant(_ db: Database, _ project: String, _ g: Grant) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO grants (project, dataset, prefix, actions) VALUES (?, ?, ?, ?)",
            arguments: [project, g.dataset, g.prefix, AccessAction.allCases.filter(g.actions.contains).map(\.rawValue).joined(separator: ",")])
    }

    func requireProject(_ db: Database, _ name: String) throws {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM projects WHERE name = ?", arguments: [name]) != nil else {
            throw AccessError("no project \(name)")
        }
    }

    public func grant(_ project: String, _ g: Grant) throws {
        try queue.write { db in
            try requireProject(db, project)
            try Self.putGrant(db, project, g)
        }
    }

    /// Removes the grant on `dataset` (and `prefix`); returns whether one existed.
    public func revoke(_ project: String, dataset: String, prefix: String) throws -> Bool {
        try queue.write { db in
            try requireProject(db, project)
            try db.execute(sql: "DELETE FROM grants WHERE project = ? AND dataset = ? AND prefix = ?", arguments: [project, dataset, prefix])
            return db.changesCount > 0
        }
    }

    public func setMember(_ project: String, user: String, member: Bool) throws {
        try queue.write { db in
            try requireProject(db, project)
            if member {
                try Self.addMember(db, project, user)
            } else {
                try db.execute(sql: "DELETE FROM members WHERE project = ? AND user = ?", arguments: [project, user])
            }
        }
    }

    public func setExpiry(_ project: String, _ expires: Date) throws {
        try queue.write { db in
            try requireProject(db, project)
            try db.execute(sql: "UPDATE projects SET expires = ? WHERE name = ?", arguments: [expires.timeIntervalSince1970, project])
        }
    }

    /// The session's view for a policy decision, read in one transaction: the project and
    /// whether the user is still active.
    public func sessionState(user: String, project: String) throws -> (Project?, userActive: Bool) {
        try queue.read { db in
            let active = try Bool.fetchOne(db, sql: "SELECT disabled = 0 FROM users WHERE name = ?", arguments: [user]) ?? false
            return (try Self.project(db, project), active)
        }
    }
}

/// What `AccessStoring.reserveAttempt` decided about a sign-in attempt.
public enum SignInReservation: Sendable, Equatable {
    /// Counted as a failure until `release` says it succeeded: check the password now.
    case granted
    /// Refused without being checked (and without being counted) until then, because of the
    /// failures counted under `subject`.
    case delayed(until: Date, subject: LockoutPolicy.Subject)
}

/// What the gateway needs of the access store on every request and sign-in: users and their
/// second factor, the failure counts, projects and the session state. `AccessStore` (SQLite)
/// is the embedded one; a shared database implements the same.
public protocol AccessStoring: Sendable {
    /// Opens and issues the stateless session tokens (keyed by the store's secret).
    var sessions: SessionAuthority { get }
    func user(_ name: String) async throws -> UserRecord?
    func totp(of user: UserRecord) throws -> TOTP
    /// Records an accepted TOTP step, only if newer than the last (a code is used once, across
    /// every gateway). Isolation: the step condition is in the UPDATE's WHERE clause.
    func acceptStep(_ name: String, step: UInt64) async throws -> Bool
    /// Isolation: reads and increments the counts in one transaction with their rows locked.
    func reserveAttempt(user: String, address: String, policy: LockoutPolicy, now: Date) async throws -> SignInReservation
    func release(user: String, address: String) async throws
    func unreserve(user: String, address: String) async throws
    func project(_ name: String) async throws -> Project?
    /// The project and whether the user is still active, in one snapshot.
    func sessionState(user: String, project: String) async throws -> (Project?, userActive: Bool)
    /// The project's view of the dataset, the registry version and the key epoch, in one snapshot.
    func privacyState(dataset: String, project: String) async throws -> PrivacyState
    func optOutHashes() async throws -> (hashes: [Data], version: Int)
    /// The current views (of one dataset, or all).
    func views(dataset: String?) async throws -> [ViewRecord]
}

extension AccessStore: AccessStoring {}

public struct AccessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
