// libFuzzer target for the model-file reader (include/logreg/model_file.hpp). Each input is loaded as it
// is and again with its last four bytes replaced by the right CRC-32, so mutations get past the checksum
// and reach the size and value checks. A rejection must be a DataError; an accepted file must be
// consistent, and the writer must reproduce it byte for byte (the format has one encoding per model).
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_target_support.hpp"
#include "logreg/errors.hpp"
#include "logreg/model_file.hpp"

namespace {

using logreg::fuzz::invariant_failed;

std::vector<std::uint8_t> read_back(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void check_accepted(const logreg::ModelFile& f, const std::vector<std::uint8_t>& bytes) {
  const logreg::Model& m = f.model;
  const std::uint64_t cd = static_cast<std::uint64_t>(m.num_classes) * static_cast<std::uint64_t>(m.input_dim);
  if (m.num_classes < 1 || m.num_classes > static_cast<int>(logreg::kModelFileMaxClasses)) {
    invariant_failed("accepted num_classes outside [1, 256]");
  }
  if (f.rows == 0 || f.cols == 0 || static_cast<std::uint64_t>(f.rows) * f.cols != static_cast<std::uint64_t>(m.input_dim)) {
    invariant_failed("accepted rows * cols != input_dim");
  }
  if (m.weights.size() != cd || m.bias.size() != static_cast<std::size_t>(m.num_classes)) {
    invariant_failed("accepted weight/bias sizes that disagree with the header");
  }
  if (!f.optimizer_state.empty() && f.optimizer_state.size() != cd + m.bias.size()) {
    invariant_failed("accepted an optimizer state of the wrong size");
  }
  for (const std::vector<float>* v : {&m.weights, &m.bias, &f.optimizer_state}) {
    for (float x : *v) {
      if (!std::isfinite(x)) invariant_failed("accepted a non-finite value");
    }
  }
  if (!f.scaler.empty() && (f.class_labels.empty() || f.scaler.scale.size() != static_cast<std::size_t>(m.input_dim) ||
                            f.scaler.mean.size() != f.scaler.scale.size())) {
    invariant_failed("accepted a scaler without labels or of the wrong width");
  }
  for (std::size_t j = 0; j < f.scaler.scale.size(); ++j) {
    if (!std::isfinite(f.scaler.mean[j]) || !std::isfinite(f.scaler.scale[j]) || !(f.scaler.scale[j] > 0.0)) {
      invariant_failed("accepted a non-finite scaler value or a scale <= 0");
    }
  }
  // Re-encode: must give back the input exactly.
  const std::string path = logreg::fuzz::scratch_dir() + "/resaved.lrm";
  logreg::save_model_file(path, f);
  if (read_back(path) != bytes) invariant_failed("save_model_file(load_model_file(x)) != x");
}

void load_one(const std::vector<std::uint8_t>& bytes, const char* name) {
  const std::string path = logreg::fuzz::write_scratch_file(name, bytes.data(), bytes.size());
  std::optional<logreg::ModelFile> f;
  try {
    f = logreg::load_model_file(path);
  } catch (const logreg::DataError&) {
    return;
  }
  check_accepted(*f, bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  load_one(bytes, "as_is.lrm");
  if (size >= 4) {
    const std::uint32_t crc = static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), data, static_cast<uInt>(size - 4)));
    for (int i = 0; i < 4; ++i) bytes[size - 4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
    if (std::memcmp(bytes.data(), data, size) != 0) load_one(bytes, "crc_fixed.lrm");
  }
  return 0;
}
