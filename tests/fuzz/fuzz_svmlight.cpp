// libFuzzer target for the svmlight reader (include/logreg/svmlight_reader.hpp) and the feature loader above
// it: from memory and as a file. A success must give well-formed CSR (row starts ascending, indices strictly
// increasing within a row and below the width, finite values); a rejection must be a DataError.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_target_support.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/svmlight_reader.hpp"

namespace {

using logreg::fuzz::invariant_failed;

void check_csr(const logreg::FeatureMatrix& m) {
  if (!m.sparse || m.row_start.size() != m.rows + 1 || m.row_start.front() != 0 ||
      m.row_start.back() != m.values.size() || m.col_index.size() != m.values.size()) {
    invariant_failed("svmlight: CSR arrays disagree");
  }
  for (std::size_t i = 0; i < m.rows; ++i) {
    if (m.row_start[i] > m.row_start[i + 1]) invariant_failed("svmlight: row starts descend");
    for (std::uint64_t k = m.row_start[i]; k < m.row_start[i + 1]; ++k) {
      if (m.col_index[k] >= m.cols) invariant_failed("svmlight: index beyond the width");
      if (k > m.row_start[i] && m.col_index[k] <= m.col_index[k - 1]) invariant_failed("svmlight: unsorted row");
      if (!std::isfinite(m.values[k])) invariant_failed("svmlight: non-finite value");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace logreg;
  const std::vector<std::uint8_t> bytes(data, data + size);
  try {
    SvmlightRows r = parse_svmlight(bytes, "fuzz");
    if (r.y.values.size() != r.x.rows) invariant_failed("svmlight: rows != labels");
    align_svmlight_indices({&r});
    check_csr(r.x);
  } catch (const DataError&) {
  }
  // Not a zip: load_feature_data reads it as svmlight.
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') return 0;
  const std::string path = fuzz::write_scratch_file("data.svm", data, size);
  try {
    const FeatureData d = load_feature_data(path, "", IdxLimits{64ull << 20});
    check_csr(d.train_x);
  } catch (const DataError&) {
  }
  return 0;
}
