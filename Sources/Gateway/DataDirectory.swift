import Foundation
import Logging

/// The data directory's own files: databases, keys, credentials, the certificate.
public enum DataDirectory {
    /// Makes every file directly in `directory` readable by its owner only. Earlier versions
    /// created the SQLite databases (and their `-wal`/`-shm` files) 0644; the directory is
    /// 0700, but a file's mode should not depend on its directory's.
    public static func restrictFiles(in directory: String, logger: Logger) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return }
        for name in names {
            let path = directory + "/" + name
            guard let attributes = try? fm.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular,
                let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0
            else { continue }
            do {
                try fm.setAttributes([.posixPermissions: mode & 0o700], ofItemAtPath: path)
            } catch {
                logger.warning("cannot restrict the mode of \(path)", metadata: ["error": .string("\(error)")])
            }
        }
    }
}
