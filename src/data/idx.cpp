// IDX reader (include/logreg/idx.hpp): whole-file reads with gunzip (libdeflate in one call for a well-formed
// file, else zlib streaming) bounded by IdxLimits, the header kept apart from the data so the pixels are never
// copied, header and length validation with messages naming file, field, offset, expected and found; and the
// read of a row window of an image file (pread, an MPI rank's rows). Not here: the writers (idx_writer.cpp),
// data-set discovery.
#include "logreg/idx.hpp"

#include "logreg/checked_files.hpp"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace logreg {
namespace {

constexpr std::uint8_t kIdxUnsignedByte = 0x08;
constexpr std::size_t kIoChunk = 1 << 16;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

std::string errno_text(int err) { return std::strerror(err); }

std::string hex_byte(std::uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
  return buf;
}

const char* idx_type_name(std::uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
  }
}

// ---- reading files ---------------------------------------------------------------------------

// Opened without blocking and refused unless a regular file: a FIFO would hang, a device never end.
FileHandle open_for_reading(const std::string& path) {
  const int fd = open_regular_for_reading(path, "");
  std::FILE* f = ::fdopen(fd, "rb");
  if (f == nullptr) {
    const int err = errno;
    ::close(fd);
    throw DataError(path, "cannot open: " + errno_text(err));
  }
  return FileHandle(f);
}

// Reads up to `n` bytes; throws on a read error (a short count means end of file).
std::size_t read_some(std::FILE* f, const std::string& path, std::uint8_t* dst, std::size_t n) {
  const std::size_t got = std::fread(dst, 1, n, f);
  if (got < n && std::ferror(f)) throw DataError(path, "read error: " + errno_text(errno));
  return got;
}

// The decoded bytes of a file as they arrive, the first `head_len` of them (an IDX header) kept apart from
// the rest, so that the data after the header ends up in a vector of its own without being copied again
// (a whole-file buffer would be copied to drop the header: twice the file in memory while loading).
class SplitBytes {
 public:
  explicit SplitBytes(std::size_t head_len) : head_len_(head_len) {}

  void append(const std::uint8_t* p, std::size_t n) {
    const std::size_t to_head = std::min(n, head_len_ - head_.size());
    head_.insert(head_.end(), p, p + to_head);
    data_.insert(data_.end(), p + to_head, p + n);
  }
  // Room for `bytes` in all, so that the data vector is allocated once when its size is known.
  void reserve(std::uint64_t bytes) {
    if (bytes > head_len_) data_.reserve(static_cast<std::size_t>(bytes - head_len_));
  }
  // The whole decoded file at once: its first head_len bytes become the head, the rest is moved down in
  // place to become the data (no second copy of the file).
  void adopt(std::vector<std::uint8_t>&& whole) {
    const std::size_t h = std::min(head_len_, whole.size());
    head_.assign(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(h));
    if (h > 0) std::memmove(whole.data(), whole.data() + h, whole.size() - h);
    whole.resize(whole.size() - h);
    data_ = std::move(whole);
  }
  std::size_t head_len() const { return head_len_; }
  std::uint64_t size() const { return head_.size() + data_.size(); }
  bool head_complete() const { return head_.size() == head_len_; }
  std::vector<std::uint8_t>& head() { return head_; }
  std::vector<std::uint8_t>& data() { return data_; }

 private:
  std::size_t head_len_;
  std::vector<std::uint8_t> head_;
  std::vector<std::uint8_t> data_;
};

std::uint32_t be32_at(const std::uint8_t* b) {
  return (static_cast<std::uint32_t>(b[0]) << 24) | (static_cast<std::uint32_t>(b[1]) << 16) |
         (static_cast<std::uint32_t>(b[2]) << 8) | static_cast<std::uint32_t>(b[3]);
}

// The file length an IDX header promises (header + count x dims), or 0 when it is not a well-formed
// unsigned-byte header of `head_len` bytes or the product overflows. Only a hint for reserve().
std::uint64_t promised_file_bytes(const std::vector<std::uint8_t>& head) {
  if (head.size() < 8 || head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head.size() != 4 + 4 * std::size_t{head[3]}) return 0;
  std::uint64_t n = 1;
  for (std::size_t d = 0; d < head[3]; ++d) {
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(be32_at(head.data() + 4 + 4 * d)), &n)) return 0;
  }
  return n + head.size();
}

std::string limit_exceeded(std::uint64_t max_bytes) {
  return "decompressed size exceeds the limit of " + std::to_string(max_bytes) + " bytes (raise it with --max-bytes)";
}

// The fast path of a .gz: a regular file holding exactly one gzip member, whose trailer gives a decoded
// length within max_bytes (and within what deflate can expand the file to) and whose IDX header, when
// result splits one off, promises exactly that length. libdeflate decodes it in one call from a copy of the
// compressed file into the data vector (2-3x zlib's speed: 0.08 s instead of 0.2 s for the 47 MB of
// Fashion-MNIST's training images). The file is read, not mapped: a mapping of a file that another process
// truncates meanwhile faults (SIGBUS) where a read just comes up short. Returns false, with result untouched,
// whenever anything differs (several members, trailing bytes, corrupt data, a wrong trailer or header, a file
// that changed or is over 64 MiB): then gunzip_file streams the file and names the problem.
constexpr std::size_t kOneCallMaxCompressedBytes = std::size_t{64} << 20;

bool gunzip_in_one_call(int fd, std::uint64_t max_bytes, SplitBytes& result) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 18) return false;
  const auto file_bytes = static_cast<std::size_t>(st.st_size);
  // The compressed copy is held while the data decode: up to kOneCallMaxCompressedBytes (Fashion-MNIST's
  // largest file is 26 MB); a larger file streams, holding only the decoded data.
  if (file_bytes > kOneCallMaxCompressedBytes) return false;
  std::vector<std::uint8_t> compressed(file_bytes);
  std::size_t got = 0;
  while (got < file_bytes) {
    const ssize_t n = ::pread(fd, compressed.data() + got, file_bytes - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // shrank or unreadable: the streaming path reports it
    got += static_cast<std::size_t>(n);
  }
  const std::uint8_t* in = compressed.data();
  const std::uint8_t* trailer = in + file_bytes - 4;
  const std::uint64_t decoded = static_cast<std::uint64_t>(trailer[0]) | static_cast<std::uint64_t>(trailer[1]) << 8 |
                                static_cast<std::uint64_t>(trailer[2]) << 16 | static_cast<std::uint64_t>(trailer[3]) << 24;
  if (decoded < result.head_len() || decoded == 0 || decoded > max_bytes ||
      decoded > static_cast<std::uint64_t>(file_bytes) * 1032) {
    return false;
  }
  // The IDX header, inflated alone, must promise the trailer's length before that length is allocated: a gzip
  // bomb (a small header, gigabytes of zeros) allocates nothing here and is stopped by the streaming path at
  // the first byte past what its header declares.
  if (result.head_len() > 0) {
    std::vector<std::uint8_t> head(result.head_len());
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return false;
    zs.next_in = const_cast<std::uint8_t*>(in);
    zs.avail_in = static_cast<uInt>(file_bytes);
    zs.next_out = head.data();
    zs.avail_out = static_cast<uInt>(head.size());
    int rc = Z_OK;
    while (zs.avail_out > 0 && rc == Z_OK) rc = inflate(&zs, Z_NO_FLUSH);
    const bool complete = zs.avail_out == 0;
    inflateEnd(&zs);
    if (!complete || promised_file_bytes(head) != decoded) return false;
  }
  std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> d(libdeflate_alloc_decompressor(),
                                                                                  libdeflate_free_decompressor);
  if (d == nullptr) return false;
  std::vector<std::uint8_t> whole(static_cast<std::size_t>(decoded));
  std::size_t in_used = 0;
  std::size_t out_got = 0;
  if (libdeflate_gzip_decompress_ex(d.get(), in, file_bytes, whole.data(), whole.size(), &in_used, &out_got) !=
          LIBDEFLATE_SUCCESS ||
      in_used != file_bytes || out_got != whole.size()) {
    return false;
  }
  if (result.head_len() > 0) {
    const std::vector<std::uint8_t> head(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(result.head_len()));
    if (promised_file_bytes(head) != decoded) return false;
  }
  result.adopt(std::move(whole));
  return true;
}

// Inflates the gzip stream (one or more members) that follows the `prefix` bytes already read into `result`.
// Once the IDX header is in, the data vector is reserved for the size it promises, bounded by max_bytes and
// by what the compressed file can hold (deflate expands at most 1032:1), so a lying header allocates little.
void gunzip_file(std::FILE* f, const std::string& path, const std::uint8_t* prefix, std::size_t prefix_len,
                 std::uint64_t max_bytes, SplitBytes& result) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw ResourceError(path + ": inflateInit2 failed");
  struct InflateEnd {
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } inflate_end{&zs};

  std::vector<std::uint8_t> in(kIoChunk), out(kIoChunk);
  bool reserved = false;
  std::uint64_t promised = 0;  // the file length the IDX header promises, once the header is in (0: unknown)
  struct stat st {};
  const std::uint64_t compressed_bytes =
      fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
  std::memcpy(in.data(), prefix, prefix_len);
  zs.next_in = in.data();
  zs.avail_in = static_cast<uInt>(prefix_len);
  std::uint64_t compressed_read = prefix_len;  // bytes of the file handed to zlib so far
  bool member_complete = false;                // the last inflate() ended a gzip member
  bool eof = false;
  for (;;) {
    if (zs.avail_in == 0 && !eof) {
      const std::size_t got = read_some(f, path, in.data(), in.size());
      eof = got == 0;
      zs.next_in = in.data();
      zs.avail_in = static_cast<uInt>(got);
      compressed_read += got;
    }
    if (member_complete && zs.avail_in == 0) break;  // end of file right after a member: done
    const std::uint64_t offset = compressed_read - zs.avail_in;
    if (member_complete) {  // more input after a complete member: must be another gzip member
      if (zs.next_in[0] != 0x1f) {
        throw IdxError(path, "gzip stream at byte " + std::to_string(offset) +
                                 ": expected end of file or another gzip member (1f 8b), found trailing byte " +
                                 hex_byte(zs.next_in[0]));
      }
      inflateReset(&zs);
      member_complete = false;
    }
    // At end of file inflate() still runs, to flush output it holds; Z_BUF_ERROR then means "needs more input".
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_BUF_ERROR && eof) {
      throw IdxError(path, "truncated gzip stream: the file ends after " + std::to_string(compressed_read) +
                               " compressed bytes, before the end of the compressed data (" +
                               std::to_string(result.size()) + " bytes decompressed so far)");
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      throw IdxError(path, "corrupt gzip stream near compressed byte " + std::to_string(offset) + ": " +
                               (zs.msg != nullptr ? zs.msg : "invalid data"));
    }
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK && rc != Z_STREAM_END) {
      throw IdxError(path, "gzip stream near compressed byte " + std::to_string(offset) + ": inflate returned " +
                               std::to_string(rc));
    }
    const std::size_t produced = out.size() - zs.avail_out;
    if (result.size() + produced > max_bytes) throw IdxError(path, limit_exceeded(max_bytes));
    if (reserved && promised > 0 && result.size() + produced > promised) {
      // Bounded by the header: one byte past the promised length is enough to know the file is wrong.
      throw IdxError(path, "decompressed data runs past the " + std::to_string(promised) +
                               " bytes the IDX header promises (header and data); stopped inflating at byte " +
                               std::to_string(promised + 1) + " near compressed byte " + std::to_string(offset));
    }
    result.append(out.data(), produced);
    if (!reserved && result.head_complete()) {
      reserved = true;
      promised = promised_file_bytes(result.head());
      // A malformed header: stop here, the parser names the field.
      if (promised == 0 && !result.head().empty()) return;
      if (promised > 0 && result.size() > promised) {
        throw IdxError(path, "decompressed data runs past the " + std::to_string(promised) +
                                 " bytes the IDX header promises (header and data)");
      }
      result.reserve(std::min({promised, max_bytes, compressed_bytes * 1032}));
    }
    if (rc == Z_STREAM_END) member_complete = true;
  }
}

// ---- parsing ---------------------------------------------------------------------------------

constexpr std::size_t kImageHeaderBytes = 16;  // magic, count, rows, cols
constexpr std::size_t kLabelHeaderBytes = 8;   // magic, count

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) { return be32_at(b.data() + at); }

// Checks magic, type and ndims (bytes 0-3) and that the whole header is present. `head` holds the first
// bytes of the file (all of them when it is shorter than the header), `file_bytes` its whole length.
void check_header(const std::vector<std::uint8_t>& b, std::uint64_t file_bytes, const std::string& name,
                  std::uint8_t want_ndims, const char* kind) {
  const std::size_t header_len = 4 + 4 * static_cast<std::size_t>(want_ndims);
  if (file_bytes == 0) {
    throw IdxError(name, std::string("empty file (0 bytes): expected an IDX ") + kind + " file with a " +
                             std::to_string(header_len) + "-byte header");
  }
  if (file_bytes < 4) {
    throw IdxError(name, "truncated header: expected at least 4 bytes of IDX magic, found a " +
                             std::to_string(file_bytes) + "-byte file");
  }
  if (b[0] != 0 || b[1] != 0) {
    throw IdxError(name, "magic at byte 0: expected 00 00, found " + hex_byte(b[0]) + " " + hex_byte(b[1]) +
                             " (not an IDX file)");
  }
  if (b[2] != kIdxUnsignedByte) {
    throw IdxError(name, "data type at byte 2: expected 0x08 (unsigned byte), found " + hex_byte(b[2]) + " (" +
                             idx_type_name(b[2]) + ")");
  }
  if (b[3] != want_ndims) {
    std::string hint;
    if (want_ndims == 3 && b[3] == 1) hint = " (this looks like a label file)";
    if (want_ndims == 1 && b[3] == 3) hint = " (this looks like an image file)";
    throw IdxError(name, "number of dimensions at byte 3: expected " + std::to_string(want_ndims) + " for an " +
                             kind + " file, found " + std::to_string(b[3]) + hint);
  }
  if (file_bytes < header_len) {
    throw IdxError(name, "truncated header: expected " + std::to_string(header_len) + " header bytes, file has " +
                             std::to_string(file_bytes));
  }
}

// Checks that the data after the header is exactly `data_bytes` long.
void check_length(std::uint64_t file_bytes, const std::string& name, std::size_t header_len,
                  std::uint64_t data_bytes, const std::string& what_promised) {
  const std::uint64_t have = file_bytes - header_len;
  if (have < data_bytes) {
    throw IdxError(name, "truncated: header promises " + std::to_string(data_bytes) + " data bytes (" +
                             what_promised + "), file has " + std::to_string(have) + " after the " +
                             std::to_string(header_len) + "-byte header");
  }
  if (have > data_bytes) {
    throw IdxError(name, "trailing bytes: header promises " + std::to_string(data_bytes) + " data bytes (" +
                             what_promised + "), file has " + std::to_string(have) + " (" +
                             std::to_string(have - data_bytes) + " extra bytes from byte " +
                             std::to_string(header_len + data_bytes) + ")");
  }
}

void check_within_limit(const std::string& name, std::uint64_t data_bytes, const std::string& what_promised,
                        const IdxLimits& limits) {
  if (data_bytes > limits.max_bytes) {
    throw IdxError(name, "header promises " + std::to_string(data_bytes) + " data bytes (" + what_promised +
                             "), more than the limit of " + std::to_string(limits.max_bytes) +
                             " bytes (raise it with --max-bytes)");
  }
}

// An image file's header checked against its length `file_bytes` (the shape, the promised size within the limit and
// equal to the file's): the ImageSet without its pixels.
ImageSet image_header_of(const std::vector<std::uint8_t>& b, std::uint64_t file_bytes, const std::string& name,
                         const IdxLimits& limits) {
  check_header(b, file_bytes, name, 3, "image");
  const std::uint32_t count = be32(b, 4), rows = be32(b, 8), cols = be32(b, 12);
  if (rows == 0) throw IdxError(name, "rows at byte 8: expected > 0, found 0");
  if (cols == 0) throw IdxError(name, "columns at byte 12: expected > 0, found 0");
  const std::string what_promised =
      std::to_string(count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
  std::uint64_t per_image = 0, data_bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols), &per_image) ||
      __builtin_mul_overflow(per_image, static_cast<std::uint64_t>(count), &data_bytes)) {
    throw IdxError(name, "dimensions at bytes 4-15: count x rows x cols = " + what_promised +
                             " overflows a 64-bit byte count");
  }
  check_within_limit(name, data_bytes, what_promised, limits);
  check_length(file_bytes, name, kImageHeaderBytes, data_bytes, what_promised);
  ImageSet s;
  s.path = name;
  s.count = count;
  s.rows = rows;
  s.cols = cols;
  return s;
}

// The data vector moves into the ImageSet: no copy of the pixels.
ImageSet parse_images(SplitBytes& bytes, const std::string& name, const IdxLimits& limits) {
  ImageSet s = image_header_of(bytes.head(), bytes.size(), name, limits);
  s.pixels = std::move(bytes.data());
  return s;
}

LabelSet parse_labels(SplitBytes& bytes, const std::string& name, const IdxLimits& limits) {
  const std::vector<std::uint8_t>& b = bytes.head();
  check_header(b, bytes.size(), name, 1, "label");
  const std::uint32_t count = be32(b, 4);
  const std::string what_promised = std::to_string(count) + " labels";
  check_within_limit(name, count, what_promised, limits);
  check_length(bytes.size(), name, kLabelHeaderBytes, count, what_promised);
  LabelSet s;
  s.path = name;
  s.labels = std::move(bytes.data());
  return s;
}

}  // namespace

namespace {

// The decoded file (gunzipped when it starts with 1f 8b) into `out`, within limits.max_bytes.
void read_split(const std::string& path, const IdxLimits& limits, SplitBytes& out) {
  FileHandle file = open_for_reading(path);
  std::uint8_t magic[2] = {0, 0};
  const std::size_t magic_len = read_some(file.get(), path, magic, 2);
  if (magic_len == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    if (!gunzip_in_one_call(fileno(file.get()), limits.max_bytes, out)) {
      gunzip_file(file.get(), path, magic, magic_len, limits.max_bytes, out);
    }
    return;
  }
  struct stat st {};
  if (fstat(fileno(file.get()), &st) != 0) throw DataError(path, "cannot stat: " + errno_text(errno));
  if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > limits.max_bytes) {
    throw IdxError(path, "file size " + std::to_string(st.st_size) + " bytes exceeds the limit of " +
                             std::to_string(limits.max_bytes) + " bytes (raise it with --max-bytes)");
  }
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<std::uint64_t>(st.st_size));
  out.append(magic, magic_len);
  std::vector<std::uint8_t> chunk(kIoChunk);
  for (;;) {
    const std::size_t got = read_some(file.get(), path, chunk.data(), chunk.size());
    if (got == 0) break;
    if (out.size() + got > limits.max_bytes) {
      throw IdxError(path, "file size exceeds the limit of " + std::to_string(limits.max_bytes) +
                               " bytes (raise it with --max-bytes)");
    }
    out.append(chunk.data(), got);
  }
}

// In-memory bytes split after `head_len` (a copy: the caller keeps its vector).
SplitBytes split_copy(const std::vector<std::uint8_t>& bytes, std::size_t head_len) {
  SplitBytes s(head_len);
  s.reserve(bytes.size());
  s.append(bytes.data(), bytes.size());
  return s;
}

}  // namespace

std::vector<std::uint8_t> read_maybe_gzip(const std::string& path, const IdxLimits& limits) {
  SplitBytes bytes(0);
  read_split(path, limits, bytes);
  return std::move(bytes.data());
}

ImageSet load_idx_images(const std::string& path, const IdxLimits& limits) {
  SplitBytes bytes(kImageHeaderBytes);
  read_split(path, limits, bytes);
  return parse_images(bytes, path, limits);
}

LabelSet load_idx_labels(const std::string& path, const IdxLimits& limits) {
  SplitBytes bytes(kLabelHeaderBytes);
  read_split(path, limits, bytes);
  return parse_labels(bytes, path, limits);
}

namespace {

// Reads exactly n bytes at `offset` of the open file, or throws naming the file (a file that shrank since its
// length was checked comes up short).
void read_exactly_at(int fd, const std::string& path, std::uint8_t* dst, std::size_t n, std::uint64_t offset) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, dst + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw DataError(path, "read error: " + errno_text(errno));
    if (r == 0) throw DataError(path, "ended at byte " + std::to_string(offset + got) + " while being read (did it change?)");
    got += static_cast<std::size_t>(r);
  }
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

// The request for a file of `count` images, checked: a window within the file, sample rows in it.
ImageRowRequest checked_request(const std::function<ImageRowRequest(std::uint32_t)>& request, std::uint32_t count,
                                const std::string& path) {
  ImageRowRequest want = request(count);
  if (want.first > want.last || want.last > count) {
    throw DataError(path, "rows " + std::to_string(want.first) + " to " + std::to_string(want.last) +
                              " asked for, but the file holds " + std::to_string(count) + " images");
  }
  for (const std::uint32_t r : want.sample) {
    if (r >= count) throw DataError(path, "sample row " + std::to_string(r) + " is past its " + std::to_string(count) + " images");
  }
  return want;
}

}  // namespace

ImageSet load_idx_image_rows(const std::string& path, const std::function<ImageRowRequest(std::uint32_t)>& request,
                             std::vector<std::uint8_t>* sample_pixels, const IdxLimits& limits) {
  const FdCloser file{open_regular_for_reading(path, "")};
  std::uint8_t magic[2] = {0, 0};
  struct stat st {};
  if (fstat(file.fd, &st) != 0) throw DataError(path, "cannot stat: " + errno_text(errno));
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (file_bytes >= 2) read_exactly_at(file.fd, path, magic, 2, 0);
  ImageSet s;
  ImageRowRequest want;
  const bool whole = magic[0] == 0x1f && magic[1] == 0x8b;
  if (whole) {
    // gzip: the rows before the window cannot be skipped, so the file is decoded whole, then cut.
    s = load_idx_images(path, limits);
    want = checked_request(request, s.count, path);
  } else {
    std::vector<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(file_bytes, kImageHeaderBytes)));
    read_exactly_at(file.fd, path, head.data(), head.size(), 0);
    s = image_header_of(head, file_bytes, path, limits);
    want = checked_request(request, s.count, path);
  }
  const std::size_t dim = s.dim();
  if (sample_pixels != nullptr) {
    sample_pixels->resize(want.sample.size() * dim);
    for (std::size_t k = 0; k < want.sample.size(); ++k) {
      if (whole) {
        std::copy_n(s.image(want.sample[k]), dim, sample_pixels->data() + k * dim);
      } else {
        read_exactly_at(file.fd, path, sample_pixels->data() + k * dim, dim,
                        kImageHeaderBytes + static_cast<std::uint64_t>(want.sample[k]) * dim);
      }
    }
  }
  const std::size_t window = static_cast<std::size_t>(want.last - want.first) * dim;
  if (whole) {  // keep the window's bytes alone
    std::memmove(s.pixels.data(), s.image(want.first), window);
    s.pixels.resize(window);
    s.pixels.shrink_to_fit();
  } else {
    s.pixels.resize(window);
    read_exactly_at(file.fd, path, s.pixels.data(), window, kImageHeaderBytes + static_cast<std::uint64_t>(want.first) * dim);
  }
  s.first = want.first;
  return s;
}

ImageSet parse_idx_images(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  SplitBytes split = split_copy(bytes, kImageHeaderBytes);
  return parse_images(split, name, IdxLimits{});
}

LabelSet parse_idx_labels(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  SplitBytes split = split_copy(bytes, kLabelHeaderBytes);
  return parse_labels(split, name, IdxLimits{});
}

}  // namespace logreg
