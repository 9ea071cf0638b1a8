// The .npz reader (include/logreg/npz_reader.hpp): the zip's end record and central directory (zip64 where
// numpy writes it), each member's local header checked against its central entry, stored or raw-deflate data
// (libdeflate, into a buffer of exactly the declared size) with its CRC-32, then the .npy header parsed
// strictly (npy_header.cpp); and a row window of one member: its stored bytes of those rows only, or its deflate stream inflated
// through zlib keeping only those rows. Not here: what the arrays mean (feature_data.cpp).
#include "logreg/npz_reader.hpp"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"
#include "npy_header.hpp"

namespace logreg {
namespace {

constexpr std::uint32_t kLocalHeaderSig = 0x04034b50u;
constexpr std::uint32_t kCentralHeaderSig = 0x02014b50u;
constexpr std::uint32_t kEndSig = 0x06054b50u;
constexpr std::uint32_t kEnd64Sig = 0x06064b50u;
constexpr std::uint32_t kEnd64LocatorSig = 0x07064b50u;
constexpr std::size_t kEndBytes = 22;
constexpr std::size_t kCentralBytes = 46;
constexpr std::size_t kLocalBytes = 30;
constexpr std::size_t kMaxMembers = 4096;

std::string at(std::uint64_t offset) { return " at byte " + std::to_string(offset); }

// The archive's bytes: a vector's, or a mapped file's (MappedFile).
struct ZipBytes {
  const std::uint8_t* p;
  std::size_t n;
  const std::uint8_t* data() const { return p; }
  std::size_t size() const { return n; }
};

struct CentralEntry {
  std::string name;
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0;
  std::uint64_t size = 0;
  std::uint64_t local_offset = 0;
  std::uint64_t entry_offset = 0;  // of the central entry, for messages
};

// The zip64 extended-information extra field (id 1) supplies, in order, the fields that are 0xFFFFFFFF.
void apply_zip64_extra(const std::uint8_t* extra, std::size_t len, CentralEntry& e, bool size_max, bool comp_max,
                       bool offset_max, const std::string& name) {
  std::size_t i = 0;
  while (i + 4 <= len) {
    const std::uint16_t id = le16(extra + i), n = le16(extra + i + 2);
    if (n > len - i - 4) throw DataError(name, "central entry '" + shown(e.name) + "'" + at(e.entry_offset) +
                                                   ": an extra field runs past the entry");
    if (id == 1) {
      std::size_t j = i + 4;
      const std::size_t end = j + n;
      auto take = [&](std::uint64_t* v) {
        if (j + 8 > end) throw DataError(name, "central entry '" + shown(e.name) + "'" + at(e.entry_offset) +
                                                   ": the zip64 extra field is too short");
        *v = le64(extra + j);
        j += 8;
      };
      if (size_max) take(&e.size);
      if (comp_max) take(&e.compressed);
      if (offset_max) take(&e.local_offset);
      return;
    }
    i += 4 + n;
  }
  if (size_max || comp_max || offset_max) {
    throw DataError(name, "central entry '" + shown(e.name) + "'" + at(e.entry_offset) +
                              ": a size or offset is 0xFFFFFFFF but there is no zip64 extra field");
  }
}

// The central directory's offset and entry count, from the end record (and the zip64 end record when the end
// record defers to it). Nothing may follow the end record but its comment.
void find_central_directory(const ZipBytes& z, const std::string& name, std::uint64_t* cd_offset,
                            std::uint64_t* cd_size, std::uint64_t* entries) {
  const std::size_t n = z.size();
  if (n < kEndBytes) throw DataError(name, "not a zip archive: " + std::to_string(n) + " bytes, shorter than a zip end record");
  std::size_t end = n;  // the end record's offset
  const std::size_t lowest = n - kEndBytes >= 65535 ? n - kEndBytes - 65535 : 0;
  for (std::size_t i = n - kEndBytes + 1; i-- > lowest;) {
    if (le32(z.data() + i) == kEndSig && i + kEndBytes + le16(z.data() + i + 20) == n) {
      end = i;
      break;
    }
  }
  if (end == n) throw DataError(name, "not a zip archive: no end-of-central-directory record (50 4b 05 06) at its end");
  const std::uint8_t* e = z.data() + end;
  if (le16(e + 4) != 0 || le16(e + 6) != 0) {
    throw DataError(name, "zip end record" + at(end) + ": a multi-disk archive, which is not supported");
  }
  *entries = le16(e + 10);
  *cd_size = le32(e + 12);
  *cd_offset = le32(e + 16);
  if (le16(e + 8) != le16(e + 10)) throw DataError(name, "zip end record" + at(end) + ": entry counts disagree");
  if (*entries == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_offset == 0xFFFFFFFFu) {
    if (end < 20 || le32(z.data() + end - 20) != kEnd64LocatorSig) {
      throw DataError(name, "zip end record" + at(end) + ": defers to a zip64 end record, but there is no locator");
    }
    const std::uint64_t at64 = le64(z.data() + end - 20 + 8);
    if (at64 > end - 20 || end - 20 - at64 < 56 || le32(z.data() + at64) != kEnd64Sig) {
      throw DataError(name, "zip64 end record" + at(at64) + ": expected its signature 50 4b 06 06");
    }
    *entries = le64(z.data() + at64 + 32);
    *cd_size = le64(z.data() + at64 + 40);
    *cd_offset = le64(z.data() + at64 + 48);
    end = static_cast<std::size_t>(at64);
  }
  if (*cd_offset > end || *cd_size > end - *cd_offset) {
    throw DataError(name, "zip end record: the central directory (" + std::to_string(*cd_size) + " bytes" +
                              at(*cd_offset) + ") does not lie before the end record" + at(end));
  }
  if (*entries > kMaxMembers) {
    throw DataError(name, "zip end record: " + std::to_string(*entries) + " members, expected at most " +
                              std::to_string(kMaxMembers));
  }
}

std::vector<CentralEntry> read_central_directory(const ZipBytes& z, const std::string& name) {
  std::uint64_t cd_offset = 0, cd_size = 0, count = 0;
  find_central_directory(z, name, &cd_offset, &cd_size, &count);
  std::vector<CentralEntry> entries;
  std::uint64_t i = cd_offset;
  const std::uint64_t cd_end = cd_offset + cd_size;
  for (std::uint64_t k = 0; k < count; ++k) {
    if (cd_end - i < kCentralBytes || le32(z.data() + i) != kCentralHeaderSig) {
      throw DataError(name, "zip central entry " + std::to_string(k) + at(i) +
                                ": expected the signature 50 4b 01 02 within the central directory");
    }
    const std::uint8_t* c = z.data() + i;
    CentralEntry e;
    e.entry_offset = i;
    e.flags = le16(c + 8);
    e.method = le16(c + 10);
    e.crc = le32(c + 16);
    e.compressed = le32(c + 20);
    e.size = le32(c + 24);
    const std::size_t name_len = le16(c + 28), extra_len = le16(c + 30), comment_len = le16(c + 32);
    e.local_offset = le32(c + 42);
    if (cd_end - i - kCentralBytes < name_len + extra_len + comment_len) {
      throw DataError(name, "zip central entry " + std::to_string(k) + at(i) + ": its name and extra fields run past "
                            "the central directory");
    }
    e.name.assign(reinterpret_cast<const char*>(c + kCentralBytes), name_len);
    apply_zip64_extra(c + kCentralBytes + name_len, extra_len, e, e.size == 0xFFFFFFFFu, e.compressed == 0xFFFFFFFFu,
                      e.local_offset == 0xFFFFFFFFu, name);
    for (const CentralEntry& seen : entries) {
      if (seen.name == e.name) throw DataError(name, "zip member '" + shown(e.name) + "' is there twice");
    }
    entries.push_back(std::move(e));
    i += kCentralBytes + name_len + extra_len + comment_len;
  }
  return entries;
}

// Where the member's data starts, after the checks of its entry and local header (method, size, bounds, name).
std::uint64_t member_data_at(const ZipBytes& z, const CentralEntry& e, const std::string& name, const IdxLimits& limits) {
  const std::string member = "zip member '" + shown(e.name) + "'";
  if (e.flags & 0x1) throw DataError(name, member + ": encrypted, which is not supported");
  if (e.method != 0 && e.method != 8) {
    throw DataError(name, member + " compression method: expected 0 (stored) or 8 (deflate), found " +
                              std::to_string(e.method));
  }
  if (e.size > limits.max_bytes) {
    throw DataError(name, member + ": decodes to " + std::to_string(e.size) + " bytes, over the limit of " +
                              std::to_string(limits.max_bytes) + " bytes (raise it with --max-bytes)");
  }
  if (e.local_offset > z.size() || z.size() - e.local_offset < kLocalBytes ||
      le32(z.data() + e.local_offset) != kLocalHeaderSig) {
    throw DataError(name, member + " local header" + at(e.local_offset) + ": expected the signature 50 4b 03 04");
  }
  const std::uint8_t* l = z.data() + e.local_offset;
  const std::size_t name_len = le16(l + 26), extra_len = le16(l + 28);
  const std::uint64_t data_at = e.local_offset + kLocalBytes + name_len + extra_len;
  if (data_at > z.size() || e.compressed > z.size() - data_at) {
    throw DataError(name, member + ": its data (" + std::to_string(e.compressed) + " bytes" + at(data_at) +
                              ") runs past the end of the file");
  }
  if (std::string(reinterpret_cast<const char*>(l + kLocalBytes), name_len) != e.name || le16(l + 8) != e.method) {
    throw DataError(name, member + " local header" + at(e.local_offset) +
                              ": its name or method differs from the central directory's");
  }
  if (e.method == 0 && e.compressed != e.size) {
    throw DataError(name, member + ": stored, but its sizes differ (" + std::to_string(e.compressed) + " and " +
                              std::to_string(e.size) + ")");
  }
  // deflate expands at most 1032:1, so a size beyond that is a lie: refused before it is allocated.
  if (e.method == 8 && e.size / 1032 > e.compressed) {
    throw DataError(name, member + ": declares " + std::to_string(e.size) + " bytes from " +
                              std::to_string(e.compressed) + " compressed, more than deflate can expand to");
  }
  return data_at;
}

// The member's bytes, decoded and checked (local header, method, size, CRC-32).
std::vector<std::uint8_t> member_bytes(const ZipBytes& z, const CentralEntry& e, const std::string& name,
                                       const IdxLimits& limits) {
  const std::string member = "zip member '" + shown(e.name) + "'";
  const std::uint64_t data_at = member_data_at(z, e, name, limits);
  const std::uint8_t* in = z.data() + data_at;
  std::vector<std::uint8_t> out;
  if (e.method == 0) {
    out.assign(in, in + e.size);
  } else {
    std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> d(libdeflate_alloc_decompressor(),
                                                                                    libdeflate_free_decompressor);
    if (d == nullptr) throw ResourceError(name + ": libdeflate_alloc_decompressor failed");
    out.resize(static_cast<std::size_t>(e.size));
    std::size_t in_used = 0, got = 0;
    const libdeflate_result r = libdeflate_deflate_decompress_ex(d.get(), in, static_cast<std::size_t>(e.compressed),
                                                                 out.data(), out.size(), &in_used, &got);
    if (r != LIBDEFLATE_SUCCESS || got != out.size()) {
      throw DataError(name, member + at(data_at) + ": the deflate stream is corrupt or does not decode to the declared " +
                                std::to_string(e.size) + " bytes");
    }
  }
  const std::uint32_t crc = static_cast<std::uint32_t>(
      crc32_z(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(out.data()), out.size()));
  if (crc != e.crc) throw DataError(name, member + ": CRC-32 mismatch (the data is damaged)");
  return out;
}

// The rows window(shape[0]) of the member's array and nothing else of its data (NpyArray::first_row). Stored:
// the bytes of those rows are all that is read (the member's CRC-32 is not checked, as that needs every byte);
// deflated: the stream inflated through zlib in chunks, its CRC-32 checked, only those rows kept, the compressed
// input dropped from memory behind the stream (file).
NpyArray member_rows(const ZipBytes& z, const MappedFile& file, const CentralEntry& e, const std::string& name,
                     const IdxLimits& limits, const NpzRows::Window& window) {
  const std::string member = "zip member '" + shown(e.name) + "'";
  const std::string where = name + ": member " + shown(e.name);
  const std::uint64_t data_at = member_data_at(z, e, name, limits);
  const std::uint8_t* in = z.data() + data_at;
  const std::size_t prefix_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(e.size, kMaxNpyPrefix));
  NpyArray a;
  std::uint64_t lo = 0, hi = 0;  // the member's bytes kept
  auto parse_header = [&](const std::uint8_t* prefix) {
    std::size_t npy_at = 0;
    a = parse_npy_header(prefix, prefix_bytes, e.size, where, &npy_at);
    const std::uint64_t rows = a.shape.empty() ? 1 : a.shape[0];
    const std::uint64_t row_bytes = rows == 0 ? 0 : (e.size - npy_at) / rows;
    const std::pair<std::uint64_t, std::uint64_t> kept = window(rows);
    if (kept.first > kept.second || kept.second > rows) {
      throw DataError(where, "rows " + std::to_string(kept.first) + " to " + std::to_string(kept.second) +
                                 " asked of " + std::to_string(rows));
    }
    a.first_row = kept.first;
    lo = npy_at + kept.first * row_bytes;
    hi = npy_at + kept.second * row_bytes;
    a.data.resize(static_cast<std::size_t>(hi - lo));
  };
  constexpr std::uint64_t kReleaseBytes = std::uint64_t{64} << 20;  // mapped input dropped behind every 64 MiB
  const std::uint64_t in_at = static_cast<std::uint64_t>(in - z.data());
  if (e.method == 0) {
    parse_header(in);
    for (std::uint64_t k = lo; k < hi; k += kReleaseBytes) {
      const std::uint64_t end = std::min(hi, k + kReleaseBytes);
      std::copy(in + k, in + end, a.data.begin() + static_cast<std::ptrdiff_t>(k - lo));
      file.release(in_at + k, end - k);
    }
    return a;
  }
  z_stream s{};
  if (inflateInit2(&s, -15) != Z_OK) throw ResourceError(name + ": inflateInit2 failed");
  struct Ender {
    z_stream* s;
    ~Ender() { inflateEnd(s); }
  } ender{&s};
  std::vector<std::uint8_t> prefix, chunk(std::size_t{1} << 20);
  prefix.reserve(prefix_bytes);
  bool parsed = prefix_bytes == 0;
  uLong crc = crc32(0L, Z_NULL, 0);
  std::uint64_t pos = 0, fed = 0, released = 0;
  int r = Z_OK;
  while (r != Z_STREAM_END) {
    if (s.avail_in == 0 && fed < e.compressed) {
      const std::uint64_t n = std::min<std::uint64_t>(e.compressed - fed, std::uint64_t{1} << 30);
      s.next_in = const_cast<Bytef*>(in + fed);
      s.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    s.next_out = chunk.data();
    s.avail_out = static_cast<uInt>(chunk.size());
    r = inflate(&s, Z_NO_FLUSH);
    const std::uint64_t got = chunk.size() - s.avail_out;
    if ((r != Z_OK && r != Z_STREAM_END) || (r == Z_OK && got == 0 && s.avail_in == 0 && fed == e.compressed) ||
        got > e.size - pos) {
      throw DataError(name, member + at(data_at) + ": the deflate stream is corrupt or does not decode to the declared " +
                                std::to_string(e.size) + " bytes");
    }
    crc = crc32_z(crc, chunk.data(), static_cast<std::size_t>(got));
    if (!parsed) {
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(got, prefix_bytes - prefix.size()));
      prefix.insert(prefix.end(), chunk.data(), chunk.data() + take);
      if (prefix.size() == prefix_bytes) {
        parse_header(prefix.data());
        parsed = true;
        for (std::uint64_t k = lo; k < std::min<std::uint64_t>(hi, prefix_bytes); ++k) a.data[k - lo] = prefix[k];
      }
    }
    if (parsed) {
      const std::uint64_t from = std::max({pos, lo, std::uint64_t{prefix_bytes}}), to = std::min(pos + got, hi);
      if (from < to) std::copy(chunk.data() + (from - pos), chunk.data() + (to - pos), a.data.begin() + (from - lo));
    }
    pos += got;
    const std::uint64_t consumed = fed - s.avail_in;
    if (consumed - released >= kReleaseBytes) {
      file.release(in_at + released, consumed - released);
      released = consumed;
    }
  }
  if (pos != e.size || !parsed) {
    throw DataError(name, member + at(data_at) + ": the deflate stream is corrupt or does not decode to the declared " +
                              std::to_string(e.size) + " bytes");
  }
  if (static_cast<std::uint32_t>(crc) != e.crc) throw DataError(name, member + ": CRC-32 mismatch (the data is damaged)");
  return a;
}

// Every member of the archive z as parse_npz reads them; the members `rows` names read as member_rows (from
// `file`, which z maps), when it has a window.
std::vector<NpyArray> read_members(const ZipBytes& z, const std::string& name, const IdxLimits& limits,
                                   const NpzRows& rows, const MappedFile* file) {
  const std::vector<CentralEntry> entries = read_central_directory(z, name);
  // Members may share compressed bytes (a zip bomb), so the sum of what they declare is bounded as a whole.
  std::uint64_t total = 0;
  for (const CentralEntry& e : entries) {
    if (__builtin_add_overflow(total, e.size, &total) || total > limits.max_bytes) {
      throw DataError(name, "the members decode to more than the limit of " + std::to_string(limits.max_bytes) +
                                " bytes together (raise it with --max-bytes)");
    }
  }
  std::vector<NpyArray> arrays;
  for (const CentralEntry& e : entries) {
    if (e.name.size() < 5 || e.name.compare(e.name.size() - 4, 4, ".npy") != 0) {
      throw DataError(name, "zip member '" + shown(e.name) + "': expected only .npy members in an .npz");
    }
    const bool windowed = file != nullptr && rows.window &&
                          std::find(rows.members.begin(), rows.members.end(), e.name) != rows.members.end();
    NpyArray a;
    if (windowed) {
      a = member_rows(z, *file, e, name, limits, rows.window);
    } else {
      const std::vector<std::uint8_t> npy = member_bytes(z, e, name, limits);
      a = parse_npy(npy.data(), npy.size(), name + ": member " + shown(e.name));
    }
    a.member = e.name;
    a.crc32 = e.crc;
    arrays.push_back(std::move(a));
  }
  return arrays;
}

}  // namespace

std::vector<NpyArray> parse_npz(const std::vector<std::uint8_t>& bytes, const std::string& name, const IdxLimits& limits) {
  return read_members(ZipBytes{bytes.data(), bytes.size()}, name, limits, NpzRows{}, nullptr);
}

std::vector<NpyArray> load_npz(const std::string& path, const IdxLimits& limits, const NpzRows& rows) {
  if (rows.window) {  // mapped: only the pages of what is kept stay in memory
    const MappedFile file(path);
    if (file.size() > limits.max_bytes) {
      throw DataError(path, "the file is " + std::to_string(file.size()) + " bytes, over the limit of " +
                                std::to_string(limits.max_bytes) + " bytes (raise it with --max-bytes)");
    }
    return read_members(ZipBytes{file.data(), static_cast<std::size_t>(file.size())}, path, limits, rows, &file);
  }
  std::uint64_t file_bytes = 0;
  const std::uint64_t want = limits.max_bytes == UINT64_MAX ? UINT64_MAX : limits.max_bytes + 1;
  std::vector<std::uint8_t> bytes = read_file_prefix(path, want, &file_bytes);
  if (file_bytes > limits.max_bytes) {
    throw DataError(path, "the file is " + std::to_string(file_bytes) + " bytes, over the limit of " +
                              std::to_string(limits.max_bytes) + " bytes (raise it with --max-bytes)");
  }
  return parse_npz(bytes, path, limits);
}

}  // namespace logreg
