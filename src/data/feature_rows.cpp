// The rows SGD trains on from a feature matrix (feature_sgd.hpp): the dense float32 form, bounded by --max-bytes
// before it is allocated, and the IDX image-set view of a uint8 matrix.
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"

namespace logreg {

std::uint64_t dense_float_bytes(const FeatureMatrix& x) {
  const std::uint64_t cells = static_cast<std::uint64_t>(x.rows) * static_cast<std::uint64_t>(x.cols);
  return x.cols != 0 && cells / x.cols != x.rows ? std::numeric_limits<std::uint64_t>::max() : cells * sizeof(float);
}

FeatureRows dense_float_rows(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, FeatureFitTerms terms,
                             std::uint64_t max_bytes) {
  const std::uint64_t bytes = dense_float_bytes(x);
  if (bytes > max_bytes || bytes / sizeof(float) > std::numeric_limits<std::size_t>::max() / sizeof(float)) {
    throw UsageError(x.path + ": --solver sgd trains on dense float32 rows, and the dense form of its " +
                     std::to_string(x.rows) + " rows x " + std::to_string(x.cols) + " features takes " +
                     std::to_string(bytes) + " bytes, over --max-bytes " + std::to_string(max_bytes) +
                     "; raise --max-bytes, or fit it with --solver lbfgs (which keeps CSR rows sparse)");
  }
  if (y.size() != x.rows) throw std::invalid_argument("dense_float_rows: one label per row expected");
  FeatureRows out;
  out.path = x.path;
  out.count = x.rows;
  out.dim = x.cols;
  out.x.resize(x.rows * x.cols);
  std::vector<double> row(x.cols);
  for (std::size_t i = 0; i < x.rows; ++i) {
    float* dst = out.x.data() + i * x.cols;
    if (!x.sparse && x.dtype == FeatureDtype::kUint8) {  // as IDX pixels: the float division of pixel_to_unit
      const std::uint8_t* p = x.dense.data() + i * x.cols;
      for (std::size_t d = 0; d < x.cols; ++d) dst[d] = pixel_to_unit<float>(p[d]);
    } else if (!x.sparse && x.dtype == FeatureDtype::kFloat32) {
      std::memcpy(dst, x.dense.data() + i * x.cols * sizeof(float), x.cols * sizeof(float));
    } else {
      x.row_to_double(i, row.data());
      for (std::size_t d = 0; d < x.cols; ++d) dst[d] = static_cast<float>(row[d]);
    }
  }
  out.labels.path = x.path;
  out.labels.labels.resize(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] >= kFeatureMaxClasses) throw std::invalid_argument("dense_float_rows: class index past 255");
    out.labels.labels[i] = static_cast<std::uint8_t>(y[i]);
  }
  out.terms = std::move(terms);
  return out;
}

void pixel_rows_of(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, ImageSet* images, LabelSet* labels) {
  if (x.sparse || x.dtype != FeatureDtype::kUint8 || y.size() != x.rows) {
    throw std::invalid_argument("pixel_rows_of: a dense uint8 matrix with one label per row expected");
  }
  constexpr std::size_t kMax = std::numeric_limits<std::uint32_t>::max();
  if (x.rows > kMax || x.cols > kMax) {
    throw DataError(x.path, std::to_string(x.rows) + " rows x " + std::to_string(x.cols) +
                                " features: more than an image set's 2^32 - 1 rows or pixels");
  }
  images->path = x.path;
  images->count = static_cast<std::uint32_t>(x.rows);
  images->rows = 1;
  images->cols = static_cast<std::uint32_t>(x.cols);
  images->first = 0;
  images->pixels = x.dense;
  labels->path = x.path;
  labels->labels.resize(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) labels->labels[i] = static_cast<std::uint8_t>(y[i]);
}

}  // namespace logreg
