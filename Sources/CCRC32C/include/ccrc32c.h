#ifndef CCRC32C_H
#define CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has a CRC-32C instruction (x86-64 SSE4.2, ARMv8 CRC).
int ccrc32c_available(void);

/// Continues a CRC-32C register (already inverted: start with ~0) over `length` bytes with the
/// CPU's instruction. Only call when `ccrc32c_available()`.
uint32_t ccrc32c_update(uint32_t crc, const void *bytes, size_t length);

#endif
