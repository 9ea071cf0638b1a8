// libFuzzer target for the safetensors reader (include/logreg/export_safetensors.hpp), the input of
// `train --init`, `eval` and `export` for PyTorch's files and ours. A rejection must be a DataError; an
// accepted file must give a consistent, finite model, and writing that model and reading it back must give
// the same weights, head and shape (the writer has its own header, so not the same bytes).
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "fuzz_target_support.hpp"
#include "logreg/errors.hpp"
#include "logreg/export_safetensors.hpp"
#include "logreg/model_file.hpp"

namespace {

using logreg::fuzz::invariant_failed;

void check_accepted(const logreg::ModelFile& f) {
  const logreg::Model& m = f.model;
  if (m.num_classes < 1 || m.num_classes > static_cast<int>(logreg::kModelFileMaxClasses) || m.input_dim < 1) {
    invariant_failed("accepted a shape outside the model's limits");
  }
  const std::uint64_t cd = static_cast<std::uint64_t>(m.num_classes) * static_cast<std::uint64_t>(m.input_dim);
  if (m.weights.size() != cd || m.bias.size() != static_cast<std::size_t>(m.num_classes)) {
    invariant_failed("accepted weight/bias sizes that disagree with the shapes");
  }
  if (static_cast<std::uint64_t>(f.rows) * f.cols != static_cast<std::uint64_t>(m.input_dim)) {
    invariant_failed("accepted rows * cols != input_dim");
  }
  for (const std::vector<float>* v : {&m.weights, &m.bias}) {
    for (float x : *v) {
      if (!std::isfinite(x)) invariant_failed("accepted a non-finite value");
    }
  }
  const std::string bytes = logreg::safetensors_model_bytes(f);
  const std::string path = logreg::fuzz::write_scratch_file(
      "resaved.safetensors", reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  const logreg::ModelFile back = logreg::load_safetensors_model(path);
  if (back.model.weights != m.weights || back.model.bias != m.bias || back.model.head != m.head ||
      back.rows != f.rows || back.cols != f.cols || back.class_labels != f.class_labels ||
      back.scaler.mean != f.scaler.mean || back.scaler.scale != f.scaler.scale || back.pixel_scale != f.pixel_scale) {
    invariant_failed("load(save(load(x))) differs from load(x)");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = logreg::fuzz::write_scratch_file("input.safetensors", data, size);
  std::optional<logreg::ModelFile> f;
  try {
    f = logreg::load_safetensors_model(path);
  } catch (const logreg::DataError&) {
    return 0;
  }
  check_accepted(*f);
  return 0;
}
