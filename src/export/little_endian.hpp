// Little-endian encoding of integers and float32 arrays into byte strings, shared by the export writers
// (src/export/). Internal to src/export; nothing here does I/O.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace logreg::export_detail {

inline void append_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}
inline void append_u16(std::string& out, std::uint16_t v) { append_le(out, v, 2); }
inline void append_u32(std::string& out, std::uint32_t v) { append_le(out, v, 4); }
inline void append_u64(std::string& out, std::uint64_t v) { append_le(out, v, 8); }

// float32 values as IEEE-754 binary32, little-endian, whatever the host's byte order.
inline std::string float32_bytes(const std::vector<float>& values) {
  std::string out;
  out.reserve(values.size() * 4);
  for (float v : values) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    append_u32(out, bits);
  }
  return out;
}

inline std::uint64_t read_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline float read_f32_le(const unsigned char* p) {
  const std::uint32_t bits = static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
                             (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  float v = 0.0f;
  std::memcpy(&v, &bits, 4);
  return v;
}

}  // namespace logreg::export_detail
