import Foundation

/// A fresh directory under the system's temporary directory, for one test.
public enum TemporaryDirectory {
    public static func make() throws -> String {
        let path = NSTemporaryDirectory() + "passerelle-unit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
