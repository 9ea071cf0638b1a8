// Whole files in and out: reading a regular file into memory in one go, and the atomic writer every output
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

// Writes `bytes` to `path` atomically: a temporary file path + ".tmp.XXXXXX" in the same directory (symlinks
// are written through, checked_files.hpp's resolve_output_target), written, fsync'ed, closed and renamed over
// the target. On any failure (missing or read-only directory, disk full, a target that is not a regular
// file) the temporary file is removed, whatever was at `path` is left untouched, and a ResourceError names
// `path` and the reason.
void write_whole_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace logreg
