// Shared by the .npz reader's two files (npz_reader.cpp: the zip; npy_header.cpp: the .npy header): little-endian
// fields, names made printable for messages, and the .npy header's parser. Internal to src/data/; the public
// interface is include/logreg/npz_reader.hpp.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "logreg/npz_reader.hpp"

namespace logreg {

inline constexpr std::size_t kMaxNpyHeader = 65535;  // numpy's own reader refuses longer headers unless told otherwise
// The most bytes of an .npy header: its 12 bytes of magic, version and length, and a header of kMaxNpyHeader.
inline constexpr std::size_t kMaxNpyPrefix = 12 + kMaxNpyHeader;

inline std::uint16_t le16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }
inline std::uint32_t le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline std::uint64_t le64(const std::uint8_t* p) { return le32(p) | static_cast<std::uint64_t>(le32(p + 4)) << 32; }

// A name as read from the file, short and printable, for messages.
inline std::string shown(const std::string& s) {
  std::string out;
  for (const char c : s.substr(0, 64)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return s.size() > 64 ? out + "..." : out;
}

// The header of an .npy member of n bytes, from its first `avail` of them (b): the array without its data, and
// in *data_at where the data starts. Checks as parse_npy's, the data's size against n.
NpyArray parse_npy_header(const std::uint8_t* b, std::size_t avail, std::uint64_t n, const std::string& where,
                          std::size_t* data_at);

}  // namespace logreg
