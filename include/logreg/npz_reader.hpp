// Reading NumPy files: a .npz (a zip of .npy members, stored or deflated, as numpy.savez and savez_compressed
// write them) and the .npy arrays in it. Strict: the zip's central directory and each local header must agree,
// every size is checked against the archive and the limit before anything is allocated, each member's CRC-32 is
// checked, and an .npy header must be numpy's dict with a plain little-endian numeric dtype, fortran_order False
// and a shape (object arrays, which need pickle, are refused). Turning arrays into feature matrices is in
// feature_data.cpp. A file can be read keeping only a window of rows of some members (NpzRows: what an MPI rank
// fits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "logreg/idx.hpp"

namespace logreg {

struct NpyArray {
  std::string member;  // the zip member's name, e.g. "x_train.npy"
  char kind = 'f';     // 'u' unsigned integer, 'i' signed integer, 'f' floating point, 'b' bool
  std::size_t itemsize = 0;       // bytes per element: 1, 2, 4 or 8
  std::vector<std::uint64_t> shape;
  std::vector<std::uint8_t> data;  // prod(shape) * itemsize bytes, little-endian, C order; of a window (NpzRows):
                                   // the rows [first_row, first_row + data.size() / row bytes) only
  std::uint64_t first_row = 0;     // the first row (of shape[0]) that data holds
  std::uint32_t crc32 = 0;         // the zip's CRC-32 of the whole member (every row, whatever data holds)

  std::uint64_t elements() const;
  std::string descr() const;  // "<f8", "|u1", ...
};

// One .npy file in memory (`where` names it in messages: "FILE: member M"). DataError naming the field.
NpyArray parse_npy(const std::uint8_t* bytes, std::size_t n, const std::string& where);

// Every member of the .npz in `bytes` (`name` names the file in messages), in central-directory order. Each
// member must end in ".npy", be stored (0) or deflated (8), unencrypted, and decode to at most
// limits.max_bytes. DataError naming the file, the member and the byte offset.
std::vector<NpyArray> parse_npz(const std::vector<std::uint8_t>& bytes, const std::string& name,
                                const IdxLimits& limits = {});

// Members of an .npz of which only some rows are kept: window(rows) gives [first, last) of the array's rows
// (its first dimension). No window: every row.
struct NpzRows {
  using Window = std::function<std::pair<std::uint64_t, std::uint64_t>(std::uint64_t rows)>;
  std::vector<std::string> members;  // e.g. "x_train.npy"
  Window window;
};

// The file at `path` (at most limits.max_bytes long, checked before it is read), parsed as parse_npz. With a
// window in `rows`, the file is mapped rather than read and the members it names keep only their window's rows:
// a stored member's other rows are never read (nor its CRC-32 checked, which needs them all); a deflated one is
// inflated as a stream, its CRC-32 checked, and only the window kept.
std::vector<NpyArray> load_npz(const std::string& path, const IdxLimits& limits = {}, const NpzRows& rows = {});

}  // namespace logreg
