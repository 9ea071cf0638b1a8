// libFuzzer target for the .npz reader (include/logreg/npz_reader.hpp) and the feature loader above it. Each
// input is parsed from memory (parse_npz) and as a file (load_feature_data, load_features_for_model, and with a
// window of x_train's middle third of rows, as an MPI rank reads it) under a 64 MiB limit, so a zip bomb is stopped before it is allocated. A success must describe exactly the arrays'
// bytes; a rejection must be a DataError.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_target_support.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/npz_reader.hpp"

namespace {

using logreg::fuzz::invariant_failed;

constexpr std::uint64_t kMaxBytes = 64ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace logreg;
  const std::vector<std::uint8_t> bytes(data, data + size);
  const IdxLimits limits{kMaxBytes};
  try {
    const std::vector<NpyArray> arrays = parse_npz(bytes, "fuzz", limits);
    for (const NpyArray& a : arrays) {
      if (a.data.size() != a.elements() * a.itemsize) invariant_failed("npz: data size != shape * itemsize");
    }
  } catch (const DataError&) {
  }
  const std::string path = fuzz::write_scratch_file("data.npz", data, size);
  try {
    const FeatureData d = load_feature_data(path, "", limits);
    if (d.train_x.rows != d.train_y.size() || d.classes.size() < 2) invariant_failed("npz: rows != labels");
    // Bytes that are not a zip are read as svmlight (fuzz_svmlight's target): CSR, no dense bytes.
    if (d.format == "npz" && d.train_x.dense.size() != d.train_x.rows * d.train_x.cols * (d.train_x.dtype == FeatureDtype::kUint8 ? 1 : d.train_x.dtype == FeatureDtype::kFloat32 ? 4 : 8)) {
      invariant_failed("npz: dense bytes != rows * cols * element size");
    }
    for (const std::uint32_t y : d.train_y) {
      if (y >= d.classes.size()) invariant_failed("npz: class index out of range");
    }
    const LabelledFeatures f = load_features_for_model(path, d.train_x.cols, d.classes, limits);
    if (f.x.cols != d.train_x.cols || f.y.size() != f.x.rows) invariant_failed("npz: eval rows disagree");
  } catch (const DataError&) {
  }
  try {
    const FeatureRowWindow third = [](std::size_t n) { return std::pair<std::size_t, std::size_t>{n / 3, 2 * n / 3}; };
    const FeatureData d = load_feature_data(path, "", limits, third);
    const FeatureMatrix& x = d.train_x;
    if (d.format == "npz" && (x.first != x.rows / 3 || x.loaded_rows() != 2 * x.rows / 3 - x.rows / 3)) {
      invariant_failed("npz: the window's rows are not the ones asked for");
    }
  } catch (const DataError&) {
  }
  return 0;
}
