#pragma once

#include <cstddef>
#include <cstdint>

namespace gameday {

// CRC-32 (IEEE 802.3, reflected, the one zlib computes). Our own so the core needs no zlib.
// `crc` continues a previous call's result (0 to start).
uint32_t Crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace gameday
