// Little-endian encoding of integers and float32/float64/int64 arrays into byte strings (and back), shared by
// the export writers and the safetensors reader (src/export/). Internal to src/export; nothing here does I/O.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace logreg::export_detail {

inline void append_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}
inline void append_u16(std::string& out, std::uint16_t v) { append_le(out, v, 2); }
inline void append_u32(std::string& out, std::uint32_t v) { append_le(out, v, 4); }
inline void append_u64(std::string& out, std::uint64_t v) { append_le(out, v, 8); }

// IEEE-754 values (float: binary32, double: binary64) as little-endian bytes, whatever the host's byte order.
template <class Real>
std::string ieee_bytes(const std::vector<Real>& values) {
  using Bits = std::conditional_t<sizeof(Real) == 4, std::uint32_t, std::uint64_t>;
  static_assert(sizeof(Real) == sizeof(Bits), "binary32 or binary64");
  std::string out;
  out.reserve(values.size() * sizeof(Bits));
  for (Real v : values) {
    Bits bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    append_le(out, bits, static_cast<int>(sizeof bits));
  }
  return out;
}
inline std::string float32_bytes(const std::vector<float>& values) { return ieee_bytes(values); }
inline std::string float64_bytes(const std::vector<double>& values) { return ieee_bytes(values); }

// int64 values, two's complement little-endian.
inline std::string int64_bytes(const std::vector<std::int64_t>& values) {
  std::string out;
  out.reserve(values.size() * 8);
  for (std::int64_t v : values) append_u64(out, static_cast<std::uint64_t>(v));
  return out;
}

inline std::uint64_t read_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline double read_f64_le(const unsigned char* p) {
  const std::uint64_t bits = read_u64_le(p);
  double v = 0.0;
  std::memcpy(&v, &bits, 8);
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
