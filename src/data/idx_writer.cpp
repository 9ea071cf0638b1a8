// The IDX writers (include/logreg/idx.hpp): big-endian headers and atomic writes (a temporary file in the
// target directory, then rename), optionally gzip-compressed. Used by tests and tools to make small IDX
// files; the reader is in idx.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "logreg/idx.hpp"

namespace logreg {
namespace {

constexpr std::uint8_t kIdxUnsignedByte = 0x08;

std::string errno_text(int err) { return std::strerror(err); }

// ---- writing ---------------------------------------------------------------------------------

void put_be32(std::vector<std::uint8_t>* out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<std::uint8_t>(v >> shift));
}

[[noreturn]] void fail_write(const std::string& tmp, const std::string& path, const std::string& why) {
  std::remove(tmp.c_str());
  throw ResourceError("cannot write " + path + ": " + why);
}

// Writes `bytes` (gzip-compressed when `gzip`) to a temporary file next to `path`, then renames it.
void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gzip) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmpXXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) {
    throw ResourceError("cannot write " + path + ": cannot create a temporary file in " + dir.string() + ": " +
                        errno_text(errno));
  }
  const std::string tmp = tmpl;
  auto fail = [&](const std::string& why) { fail_write(tmp, path, why); };
  fchmod(fd, 0644);
  if (gzip) {
    gzFile gz = gzdopen(fd, "wb");
    if (gz == nullptr) {
      close(fd);
      fail_write(tmp, path, "gzdopen failed");
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
      const unsigned n = static_cast<unsigned>(std::min<std::size_t>(bytes.size() - done, 1u << 30));
      if (gzwrite(gz, bytes.data() + done, n) != static_cast<int>(n)) {
        int zerr = 0;
        const std::string msg = gzerror(gz, &zerr);
        gzclose(gz);
        fail("gzwrite: " + msg);
      }
      done += n;
    }
    const int rc = gzclose(gz);  // flushes and closes fd
    if (rc != Z_OK) fail("gzclose returned " + std::to_string(rc) + (rc == Z_ERRNO ? ": " + errno_text(errno) : ""));
  } else {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        close(fd);
        fail(errno_text(err));
      }
      done += static_cast<std::size_t>(n);
    }
    if (close(fd) != 0) fail("close: " + errno_text(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("rename from " + tmp + ": " + errno_text(errno));
}

}  // namespace

void write_idx_images(const std::string& path, const ImageSet& images, bool gzip) {
  if (images.pixels.size() != static_cast<std::size_t>(images.count) * images.dim()) {
    throw std::invalid_argument("write_idx_images(" + path + "): " + std::to_string(images.pixels.size()) +
                                " pixels for " + std::to_string(images.count) + " images of " +
                                std::to_string(images.rows) + "x" + std::to_string(images.cols));
  }
  std::vector<std::uint8_t> bytes = {0, 0, kIdxUnsignedByte, 3};
  put_be32(&bytes, images.count);
  put_be32(&bytes, images.rows);
  put_be32(&bytes, images.cols);
  bytes.insert(bytes.end(), images.pixels.begin(), images.pixels.end());
  write_file_atomically(path, bytes, gzip);
}

void write_idx_labels(const std::string& path, const LabelSet& labels, bool gzip) {
  if (labels.count() > 0xFFFFFFFFu) {
    throw std::invalid_argument("write_idx_labels(" + path + "): more than 2^32-1 labels");
  }
  std::vector<std::uint8_t> bytes = {0, 0, kIdxUnsignedByte, 1};
  put_be32(&bytes, static_cast<std::uint32_t>(labels.count()));
  bytes.insert(bytes.end(), labels.labels.begin(), labels.labels.end());
  write_file_atomically(path, bytes, gzip);
}

}  // namespace logreg
