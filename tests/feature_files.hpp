// Test helpers that write feature files: .npy arrays, .npz archives with stored or deflated members (as
// numpy.savez and savez_compressed write them), and svmlight text.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "logreg/export_npz.hpp"

namespace logreg::test {

template <class T>
std::string RawBytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

inline void PutU16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void PutU32(std::string& s, std::uint32_t v) {
  PutU16(s, v & 0xFFFF);
  PutU16(s, v >> 16);
}

inline std::string RawDeflate(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 16, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A zip of `entries` (name, contents), each deflated (method 8), as numpy.savez_compressed writes them.
inline std::string DeflatedZipBytes(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, contents] : entries) {
    const std::uint32_t offset = static_cast<std::uint32_t>(out.size());
    const std::uint32_t crc = static_cast<std::uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(contents.data()), static_cast<uInt>(contents.size())));
    const std::string packed = RawDeflate(contents);
    auto common = [&](std::string& s) {
      PutU16(s, 20);  // version needed
      PutU16(s, 0);   // flags
      PutU16(s, 8);   // deflate
      PutU16(s, 0);
      PutU16(s, 33);
      PutU32(s, crc);
      PutU32(s, static_cast<std::uint32_t>(packed.size()));
      PutU32(s, static_cast<std::uint32_t>(contents.size()));
      PutU16(s, static_cast<std::uint32_t>(name.size()));
      PutU16(s, 0);  // extra
    };
    PutU32(out, 0x04034b50u);
    common(out);
    out += name;
    out += packed;
    PutU32(central, 0x02014b50u);
    PutU16(central, 20);  // version made by
    common(central);
    PutU16(central, 0);  // comment
    PutU16(central, 0);  // disk
    PutU16(central, 0);  // internal attributes
    PutU32(central, 0);  // external attributes
    PutU32(central, offset);
    central += name;
  }
  const std::uint32_t cd_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  PutU32(out, 0x06054b50u);
  PutU16(out, 0);
  PutU16(out, 0);
  PutU16(out, static_cast<std::uint32_t>(entries.size()));
  PutU16(out, static_cast<std::uint32_t>(entries.size()));
  PutU32(out, static_cast<std::uint32_t>(central.size()));
  PutU32(out, cd_offset);
  PutU16(out, 0);
  return out;
}

// An .npz of arrays given as (name without .npy, descr, shape, raw little-endian data).
struct NpyEntry {
  std::string name;
  std::string descr;
  std::vector<std::uint64_t> shape;
  std::string data;
};

inline std::string NpzBytes(const std::vector<NpyEntry>& arrays, bool deflate) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const NpyEntry& a : arrays) entries.emplace_back(a.name + ".npy", npy_bytes(a.descr, a.shape, a.data));
  return deflate ? DeflatedZipBytes(entries) : stored_zip_bytes(entries);
}

inline void WriteText(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace logreg::test
