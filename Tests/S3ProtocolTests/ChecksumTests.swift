import Foundation
import Testing

@testable import S3Protocol

@Suite("Checksums")
struct ChecksumTests {
    static let check = Array("123456789".utf8)

    @Test("CRC check values of the catalogue (\"123456789\")")
    func checkValues() {
        #expect(CRCTables.crc32.checksum(Self.check) == 0xCBF4_3926)
        #expect(CRCTables.crc32c.checksum(Self.check) == 0xE306_9283)
        #expect(CRCTables.crc64nvme.checksum(Self.check) == 0xAE8B_1486_0A79_9888)
    }

    @Test("CRC-32C by the CPU's instruction equals the table's, at every length and offset")
    func crc32cHardware() {
        #expect(~Self.check.withUnsafeBytes { CRC32C.update(~0, $0) } == 0xE306_9283)
        var rng = SystemRandomNumberGenerator()
        let data = (0..<4200).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for length in [0, 1, 7, 8, 9, 15, 16, 17, 100, 4096, 4200 - start] {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    #expect(CRC32C.update(0x1234_5678, slice) == CRCTables.crc32c.update(0x1234_5678, slice))
                }
            }
        }
        // On x86-64 and ARMv8 Linux the instruction is there; elsewhere the table answers.
        #if arch(x86_64) || (arch(arm64) && os(Linux))
        #expect(CRC32C.hardware)
        #endif
    }

    @Test("S3 header values: CRC32 of 'hello world' is DUoRhQ==, SHA-256 and SHA-1 base64")
    func s3Values() {
        let hw = Array("hello world".utf8)
        #expect(ChecksumValue(algorithm: .crc32, digest: ChecksumHasher.digest(.crc32, of: hw)).base64 == "DUoRhQ==")
        #expect(
            ChecksumValue(algorithm: .sha256, digest: ChecksumHasher.digest(.sha256, of: hw)).base64 == "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        )
        #expect(ChecksumValue(algorithm: .sha1, digest: ChecksumHasher.digest(.sha1, of: hw)).base64 == "Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
    }

    @Test("incremental hashing over any split equals one-shot", arguments: ChecksumAlgorithm.allCases)
    func incremental(_ alg: ChecksumAlgorithm) {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = ChecksumHasher.digest(alg, of: data)
        for split in [0, 1, 7, 8, 9, 63, 64, 65, 4999, 5000] {
            var h = ChecksumHasher(alg)
            h.update(Array(data[..<split]))
            h.update(Array(data[split...]))
            #expect(h.finalize() == whole)
        }
    }

    @Test("header values must be base64 of the right length")
    func parse() {
        #expect(ChecksumValue.parse(algorithm: .crc32, header: "DUoRhQ==") != nil)
        #expect(ChecksumValue.parse(algorithm: .crc32, header: "DUoRhQ") == nil)
        #expect(ChecksumValue.parse(algorithm: .crc64nvme, header: "DUoRhQ==") == nil)
        #expect(ChecksumValue.parse(algorithm: .sha256, header: "not base64!") == nil)
    }

    @Test("multipart ETag and composite checksum have the -N suffix")
    func multipart() {
        let md5a = Hex.decode("5eb63bbbe01eeed093cb22bb8f5acdc3")!
        let etag = ETag.multipart(partMD5s: [md5a, md5a])
        #expect(etag.hasSuffix("-2\""))
        #expect(ETag.md5(of: "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"") == md5a)
        #expect(ETag.md5(of: etag) == nil)
        let c = ChecksumValue.composite(algorithm: .crc32, parts: [[1, 2, 3, 4], [5, 6, 7, 8]])
        #expect(c.base64.hasSuffix("-2"))
        #expect(c.digest?.count == 4)
    }
}
