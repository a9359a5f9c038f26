import Crypto
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The master key that seals the keyring: 32 bytes, given as 64 hex digits or base64, in an
/// environment variable or a file. It must not live next to the data it protects.
public enum MasterKey {
    public static let environmentVariable = "PASSERELLE_MASTER_KEY"
    public static let fileVariable = "PASSERELLE_MASTER_KEY_FILE"

    public static func parse(_ text: String) throws -> SymmetricKey {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.count == 64, let bytes = hex(t) { return SymmetricKey(data: bytes) }
        if let d = Data(base64Encoded: t), d.count == 32 { return SymmetricKey(data: d) }
        throw KeyringError.noMasterKey("a master key is 32 bytes written as 64 hex digits or base64")
    }

    /// From `file`, else `$PASSERELLE_MASTER_KEY_FILE`, else `$PASSERELLE_MASTER_KEY`. A file inside
    /// `dataDirectory` is refused: the key would sit next to what it protects.
    public static func load(file: String?, environment: [String: String], dataDirectory: String) throws -> SymmetricKey {
        if let path = file ?? environment[fileVariable] {
            let dataDir = URL(fileURLWithPath: dataDirectory).standardizedFileURL.resolvingSymlinksInPath().path + "/"
            let keyPath = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
            guard !keyPath.hasPrefix(dataDir) else {
                throw KeyringError.noMasterKey("the master key file \(path) is inside the data directory; keep it elsewhere")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KeyringError.noMasterKey("cannot read the master key file \(path)")
            }
            return try parse(String(decoding: data, as: UTF8.self))
        }
        if let text = environment[environmentVariable] { return try parse(text) }
        throw KeyringError.noMasterKey("set \(environmentVariable) or \(fileVariable) (generate one with `passerelle keys master-key`)")
    }

    public static func generate() -> String {
        Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    static func hex(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var it = s.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            guard let hi = nibble(a), let lo = nibble(b) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

/// The keyring file on local disk, sealed under the master key. Readers (the gateway) reload
/// it when it changes on disk, so a `keys rotate` run by another process takes effect at once;
/// writers serialise on a lock file and replace the file atomically (temp, fsync, rename, fsync
/// of the directory).
public final class KeyringFile: Sendable {
    public let path: String
    private let master: SymmetricKey
    private let cache = Mutex<(stamp: [Int], ring: Keyring)?>(nil)

    public init(path: String, master: SymmetricKey) {
        self.path = path
        self.master = master
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// The keyring as on disk now (empty when there is no file yet).
    public func read() throws -> Keyring {
        guard let stamp = Self.stamp(path) else { return Keyring() }
        if let hit = cache.withLock({ $0 }), hit.stamp == stamp { return hit.ring }
        guard let data = FileManager.default.contents(atPath: path) else { throw KeyringError.unreadable("cannot read \(path)") }
        let ring = try Keyring(sealed: data, master: master)
        cache.withLock { $0 = (stamp, ring) }
        return ring
    }

    /// Applies `change` to the current keyring and writes it back, under an exclusive lock.
    @discardableResult
    public func update<T>(_ change: (inout Keyring) throws -> T) throws -> T {
        let lock = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw KeyringError.unreadable("cannot open \(path).lock: \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { throw KeyringError.unreadable("cannot lock \(path).lock") }
        var ring = try read()
        let result = try change(&ring)
        try write(try ring.sealed(master: master))
        cache.withLock { $0 = nil }
        return result
    }

    private func write(_ data: Data) throws {
        let temp = path + ".tmp"
        let fd = open(temp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyringError.unreadable("cannot write \(temp): \(String(cString: strerror(errno)))") }
        let ok = data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                guard let base = raw.baseAddress else { return false }
                let n = Glibc.write(fd, base + off, raw.count - off)
                if n <= 0 { return false }
                off += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temp, path) == 0 else { throw KeyringError.unreadable("cannot replace \(path): \(String(cString: strerror(errno)))") }
        let dir = open(
            (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent, O_RDONLY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    /// Identity of the file's current content: inode, size, modification time (ns).
    static func stamp(_ path: String) -> [Int]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return [Int(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)]
    }
}

extension KeyringFile {
    /// Gives `dataset` its first KEK unless it has keys already (a sealed dataset being created).
    public func ensureKeys(for dataset: String, now: Date = Date()) throws {
        if try read().datasets[dataset] != nil { return }
        try update { ring in
            if ring.datasets[dataset] == nil { try ring.create(dataset, now: now) }
        }
    }

    /// The pseudonym secret, created on first use.
    public func pseudonymSecret() throws -> SymmetricKey {
        if let s = try read().pseudonymSecret { return SymmetricKey(data: s) }
        return SymmetricKey(
            data: try update { ring in
                if ring.pseudonymSecret == nil { ring.pseudonymSecret = Keyring.newKey() }
                return ring.pseudonymSecret ?? Data()
            })
    }
}
