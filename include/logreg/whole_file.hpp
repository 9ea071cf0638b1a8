// Whole files in and out: reading a regular file into memory in one go (or mapping it, for a reader that keeps only
// some of its bytes), and the atomic writer every output
// goes through (model files, exports, predictions, rendered images, metrics settings). Not here: the
// pre-flight checks on inputs and outputs (checked_files.hpp) or any file format (model_file.hpp, idx.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace logreg {

// The bytes of the regular file `path`: opened without blocking and refused unless regular (a FIFO or a
// device would hang or never end). DataError naming `path`: missing, not regular, a read error, or the file
// shrank while it was read.
std::vector<std::uint8_t> read_whole_file(const std::string& path);

// The first `n` bytes of the regular file `path` (all of it when shorter), and in *file_bytes its length: what
// a reader checks a header against before it allocates for the whole file. Errors as read_whole_file's.
std::vector<std::uint8_t> read_file_prefix(const std::string& path, std::uint64_t n, std::uint64_t* file_bytes);

// A regular file mapped read-only (opened as read_whole_file opens it): its pages are read when first touched, so a
// reader that keeps a part of a large file (a rank's rows of an .npz member) holds only that part. Move-only; the
// mapping ends with the object. DataError naming `path` as read_whole_file's. Unlike a read, a mapping cannot
// report a file that another process truncates while it is in use: touching the lost pages raises SIGBUS.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&&) = delete;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }
  // Drops the pages wholly inside [offset, offset + n) from this process's memory (they are read again if
  // touched): what a streaming reader calls behind itself.
  void release(std::uint64_t offset, std::uint64_t n) const;

 private:
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
};

// Writes `bytes` to `path` atomically: a temporary file path + ".tmp.XXXXXX" in the same directory (symlinks
// are written through, checked_files.hpp's resolve_output_target), written, fsync'ed, closed and renamed over
// the target. On any failure (missing or read-only directory, disk full, a target that is not a regular
// file) the temporary file is removed, whatever was at `path` is left untouched, and a ResourceError names
// `path` and the reason.
void write_whole_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace logreg
