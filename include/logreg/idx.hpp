// IDX file format (MNIST's): reading and validating idx1 label / idx3 image files, raw or gzip
// (detected by magic bytes), and writing them (tests, tools). Data-set discovery is in data_source.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "logreg/dataset.hpp"
#include "logreg/errors.hpp"

namespace logreg {

// A malformed IDX file. what() reads "FILE: FIELD at byte OFFSET: expected X, found Y".
class IdxError : public DataError {
 public:
  IdxError(const std::string& file, const std::string& what) : DataError(file, what) {}
};

struct IdxLimits {
  std::uint64_t max_bytes = 4ull << 30;  // largest decoded file accepted (also bounds gunzip)
};

// Whole file contents, gunzipped when it starts with 1f 8b. Throws DataError / IdxError.
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path, const IdxLimits& limits = {});

// Parse an idx3 unsigned-byte image file / idx1 unsigned-byte label file. Every header field and
// the exact file length are checked before any data is used.
ImageSet load_idx_images(const std::string& path, const IdxLimits& limits = {});
LabelSet load_idx_labels(const std::string& path, const IdxLimits& limits = {});

// What to read of an image file whose header says it holds `count` images: the rows [first, last), kept, and
// the `sample` rows, whose pixels are copied out (rows that every MPI rank reads alike, for a fingerprint).
struct ImageRowRequest {
  std::uint32_t first = 0;
  std::uint32_t last = 0;
  std::vector<std::uint32_t> sample;
};
// An idx3 image file's header and length checked as load_idx_images does, then only the rows request(count)
// names read (pread): an ImageSet with the file's count whose pixels hold rows [first, last) (ImageSet::first),
// and `sample_pixels` (when not null) the (sample.size(), rows*cols) pixels of the sample rows. A gzip file is
// decoded whole and then cut to the window (its rows cannot be reached without decoding those before them), so
// it needs the whole file's memory while loading. DataError when the request is not within the file.
ImageSet load_idx_image_rows(const std::string& path, const std::function<ImageRowRequest(std::uint32_t count)>& request,
                             std::vector<std::uint8_t>* sample_pixels, const IdxLimits& limits = {});

// Parse from bytes already in memory (`name` is used in error messages).
ImageSet parse_idx_images(const std::vector<std::uint8_t>& bytes, const std::string& name);
LabelSet parse_idx_labels(const std::vector<std::uint8_t>& bytes, const std::string& name);

// Writers (gzip when `gzip`); used by tests and tools to make small IDX files.
void write_idx_images(const std::string& path, const ImageSet& images, bool gzip = false);
void write_idx_labels(const std::string& path, const LabelSet& labels, bool gzip = false);

}  // namespace logreg
