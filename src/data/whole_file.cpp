// Reading a regular file whole or mapped, and the atomic writer (include/logreg/whole_file.hpp): mkstemp next to the
// target, write, fsync, rename, then fsync of the directory.
#include "logreg/whole_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "logreg/checked_files.hpp"
#include "logreg/errors.hpp"

namespace logreg {
namespace {

[[noreturn]] void fail_write(const std::string& tmp, const std::string& path, const std::string& why) {
  if (!tmp.empty()) ::unlink(tmp.c_str());
  throw ResourceError("cannot write " + path + ": " + why);
}

}  // namespace

std::vector<std::uint8_t> read_whole_file(const std::string& path) {
  std::uint64_t file_bytes = 0;
  return read_file_prefix(path, UINT64_MAX, &file_bytes);
}

std::vector<std::uint8_t> read_file_prefix(const std::string& path, std::uint64_t n, std::uint64_t* file_bytes) {
  // Opened without blocking and refused unless regular: a FIFO or a device would hang or never end.
  const int fd = open_regular_for_reading(path, "");
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) throw DataError(path, std::string("cannot stat: ") + std::strerror(errno));
  *file_bytes = static_cast<std::uint64_t>(st.st_size);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(std::min<std::uint64_t>(n, *file_bytes)));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw DataError(path, std::string("read error after ") + std::to_string(got) + " of " +
                                std::to_string(bytes.size()) + " bytes: " +
                                (n < 0 ? std::strerror(errno) : "file shrank while reading"));
    }
    got += static_cast<std::size_t>(n);
  }
  return bytes;
}

MappedFile::MappedFile(const std::string& path) {
  const int fd = open_regular_for_reading(path, "");
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw DataError(path, std::string("cannot stat: ") + std::strerror(err));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, static_cast<std::size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) throw DataError(path, std::string("cannot map: ") + std::strerror(err));
    data_ = static_cast<const std::uint8_t*>(p);
  } else {
    ::close(fd);
  }
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), static_cast<std::size_t>(size_));
}

MappedFile::MappedFile(MappedFile&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

void MappedFile::release(std::uint64_t offset, std::uint64_t n) const {
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t begin = (offset + page - 1) / page * page, end = std::min(offset + n, size_) / page * page;
  if (data_ != nullptr && begin < end) {
    ::madvise(const_cast<std::uint8_t*>(data_) + begin, static_cast<std::size_t>(end - begin), MADV_DONTNEED);
  }
}

void write_whole_file_atomically(const std::string& requested, const std::string& bytes) {
  // A symlink is written through: the temporary file goes beside the file it names, which is replaced,
  // and the link stays. Anything but a regular file (or nothing) at the target is refused, untouched.
  const std::string path = resolve_output_target(requested);
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
    throw ResourceError("cannot write " + requested + ": it is not a regular file (a directory, device, FIFO or "
                        "socket); outputs must be regular files");
  }
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    const std::filesystem::path target(path);
    const std::string dir = target.has_parent_path() ? target.parent_path().string() : std::string(".");
    fail_write("", path, "cannot create a temporary file in " + dir + ": " + std::strerror(errno));
  }
  ::fchmod(fd, 0644);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      fail_write(tmp, path, std::string("write: ") + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail_write(tmp, path, std::string("fsync: ") + std::strerror(err));
  }
  if (::close(fd) != 0) fail_write(tmp, path, std::string("close: ") + std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    fail_write(tmp, path, "rename from " + tmp + ": " + std::strerror(errno));
  }
  // Make the rename itself durable; a failure here leaves a complete file, so it is not an error.
  const std::filesystem::path target(path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : std::string(".");
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace logreg
