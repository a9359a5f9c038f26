import CCRC32C

/// Table-driven reflected CRCs (slicing-by-8), as S3's flexible checksums use them.
///
/// Parameters (all reflected, init all-ones, final xor all-ones):
/// - CRC-32 (ISO-HDLC): polynomial 0xEDB88320
/// - CRC-32C (Castagnoli): polynomial 0x82F63B78
/// - CRC-64/NVME: polynomial 0x9A6C9329AC4BC9B5
/// No package on the mirror ships CRC-32C or CRC-64/NVME (DESIGN.md §10), hence this file.
public struct ReflectedCRC<Word: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    /// 8 tables of 256 entries, flattened: table k at offset 256 * k.
    let tables: [Word]

    public init(polynomial: Word) {
        var t = [Word](repeating: 0, count: 256 * 8)
        for i in 0..<256 {
            var c = Word(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 {
                let prev = t[256 * (k - 1) + i]
                t[256 * k + i] = (prev >> 8) ^ t[Int(truncatingIfNeeded: prev & 0xFF)]
            }
        }
        tables = t
    }

    /// Continues a CRC over `bytes`. `crc` is the register value (already inverted), start with `~0`.
    public func update(_ crc: Word, _ bytes: UnsafeRawBufferPointer) -> Word {
        var c = crc
        var i = 0
        let n = bytes.count
        tables.withUnsafeBufferPointer { t in
            // Slicing-by-8: fold eight input bytes per step through eight tables.
            while n - i >= 8 {
                let lo = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let x: UInt64 = UInt64(truncatingIfNeeded: c) ^ lo
                // For a 32-bit register the upper four bytes of `x` are plain input: same formula.
                var next: Word = t[Int(x >> 56)]
                next ^= t[1 * 256 + Int((x >> 48) & 0xFF)]
                next ^= t[2 * 256 + Int((x >> 40) & 0xFF)]
                next ^= t[3 * 256 + Int((x >> 32) & 0xFF)]
                next ^= t[4 * 256 + Int((x >> 24) & 0xFF)]
                next ^= t[5 * 256 + Int((x >> 16) & 0xFF)]
                next ^= t[6 * 256 + Int((x >> 8) & 0xFF)]
                next ^= t[7 * 256 + Int(x & 0xFF)]
                c = next
                i += 8
            }
            while i < n {
                c = (c >> 8) ^ t[Int(truncatingIfNeeded: (c ^ Word(bytes[i])) & 0xFF)]
                i += 1
            }
        }
        return c
    }

    public func checksum(_ bytes: some Sequence<UInt8>) -> Word {
        let array = Array(bytes)
        return ~array.withUnsafeBytes { update(~0, $0) }
    }
}

public enum CRCTables {
    public static let crc32 = ReflectedCRC<UInt32>(polynomial: 0xEDB8_8320)
    public static let crc32c = ReflectedCRC<UInt32>(polynomial: 0x82F6_3B78)
    public static let crc64nvme = ReflectedCRC<UInt64>(polynomial: 0x9A6C_9329_AC4B_C9B5)
}

/// CRC-32C by the CPU's instruction where there is one (x86-64 SSE4.2, ARMv8 CRC), else by the
/// table: the same register arithmetic, so either may continue the other's value.
public enum CRC32C {
    public static let hardware = ccrc32c_available() != 0

    /// Continues a CRC register (already inverted, start with `~0`) over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard hardware, let base = bytes.baseAddress else { return CRCTables.crc32c.update(crc, bytes) }
        return ccrc32c_update(crc, base, bytes.count)
    }
}
