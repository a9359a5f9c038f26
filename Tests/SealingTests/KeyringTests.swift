import Crypto
import Foundation
import Testing

@testable import Sealing

@Suite struct KeyringTests {
    @Test func createRotateShred() throws {
        var ring = Keyring()
        try ring.create("ds", now: Date())
        #expect(throws: KeyringError.exists("ds")) { try ring.create("ds", now: Date()) }
        #expect(try ring.current("ds").version == 1)
        #expect(try ring.rotate("ds", now: Date()) == 2)
        #expect(try ring.current("ds").version == 2)
        #expect(throws: KeyringError.current("ds", 2)) { try ring.shred("ds", version: 2) }
        try ring.shred("ds", version: 1)
        #expect(throws: SealingError.shredded(dataset: "ds", version: 1)) { try ring.kek("ds", version: 1) }
        #expect(throws: SealingError.unknownKey(dataset: "ds", version: 9)) { try ring.kek("ds", version: 9) }
        #expect(throws: KeyringError.alreadyShredded("ds", 1)) { try ring.shred("ds", version: 1) }
        // Version numbers are never reused after a shred.
        #expect(try ring.rotate("ds", now: Date()) == 3)
    }

    @Test func sealedFileNeedsTheMasterKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keyring-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let master = SymmetricKey(size: .bits256)
        let file = KeyringFile(path: dir + "/keyring", master: master)
        try file.update { try $0.create("ds", now: Date()) }
        let key = try file.read().current("ds")
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir + "/keyring"))
        // The KEK never appears in clear in the file.
        let kekBytes = try file.read().datasets["ds"]?.keys.first?.key ?? Data()
        #expect(raw.range(of: kekBytes) == nil && raw.range(of: Data(kekBytes.base64EncodedString().utf8)) == nil)
        #expect(throws: KeyringError.wrongMasterKey) { try KeyringFile(path: dir + "/keyring", master: SymmetricKey(size: .bits256)).read() }
        var tampered = raw
        tampered[tampered.count / 2] ^= 1
        try tampered.write(to: URL(fileURLWithPath: dir + "/other"))
        #expect(throws: KeyringError.self) { try KeyringFile(path: dir + "/other", master: master).read() }
        // Another process's change is picked up.
        let second = KeyringFile(path: dir + "/keyring", master: master)
        _ = try second.update { try $0.rotate("ds", now: Date()) }
        #expect(try file.read().current("ds").version == key.version + 1)
    }

    @Test func masterKeyFormatsAndPlacement() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try MasterKey.parse(hex).bitCount == 256)
        #expect(try MasterKey.parse(MasterKey.generate()).bitCount == 256)
        #expect(throws: KeyringError.self) { try MasterKey.parse("short") }
        #expect(throws: KeyringError.self) { try MasterKey.load(file: nil, environment: [:], dataDirectory: "/tmp") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("data-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try hex.write(toFile: dir + "/master.key", atomically: true, encoding: .utf8)
        #expect(throws: KeyringError.self) { try MasterKey.load(file: dir + "/master.key", environment: [:], dataDirectory: dir) }
        #expect(try MasterKey.load(file: dir + "/master.key", environment: [:], dataDirectory: dir + "/elsewhere").bitCount == 256)
    }
}
