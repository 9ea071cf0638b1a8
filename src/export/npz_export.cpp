// The NumPy export (include/logreg/export_npz.hpp): .npy version 1.0 arrays in a stored zip, as
// numpy.savez writes them, with the arrays scikit-learn's LogisticRegression predicts from.
#include "logreg/export_npz.hpp"

#include <zlib.h>

#include <cstring>
#include <limits>
#include <stdexcept>

#include "export_check.hpp"
#include "logreg/errors.hpp"
#include "little_endian.hpp"

namespace logreg {

using export_detail::append_u16;
using export_detail::append_u32;

std::string npy_bytes(const std::string& descr, const std::vector<std::uint64_t>& shape, const std::string& data) {
  std::string shape_text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    shape_text += std::to_string(shape[i]);
    shape_text += shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : "");
  }
  shape_text += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64 (numpy's own alignment).
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  append_u16(out, static_cast<std::uint16_t>(header.size()));
  out += header;
  out += data;
  return out;
}

std::string stored_zip_bytes(const std::vector<std::pair<std::string, std::string>>& entries) {
  constexpr std::uint16_t kVersionNeeded = 20;  // 2.0, what Python's zipfile writes for stored entries
  constexpr std::uint16_t kDosTime = 0;         // 00:00:00
  constexpr std::uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01: fixed, so exports are reproducible
  std::string out, central;
  for (const auto& [name, contents] : entries) {
    if (out.size() > std::numeric_limits<std::uint32_t>::max() - contents.size() - 1024 || name.size() > 0xFFFF) {
      throw std::length_error("zip: " + name + " does not fit a zip archive without zip64");
    }
    const std::uint32_t offset = static_cast<std::uint32_t>(out.size());
    const std::uint32_t crc = static_cast<std::uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(contents.data()), static_cast<uInt>(contents.size())));
    const std::uint32_t size = static_cast<std::uint32_t>(contents.size());
    // Local file header.
    append_u32(out, 0x04034b50u);
    append_u16(out, kVersionNeeded);
    append_u16(out, 0);  // flags
    append_u16(out, 0);  // method: stored
    append_u16(out, kDosTime);
    append_u16(out, kDosDate);
    append_u32(out, crc);
    append_u32(out, size);  // compressed size
    append_u32(out, size);  // uncompressed size
    append_u16(out, static_cast<std::uint16_t>(name.size()));
    append_u16(out, 0);  // extra field length
    out += name;
    out += contents;
    // Its central directory record.
    append_u32(central, 0x02014b50u);
    append_u16(central, (3 << 8) | kVersionNeeded);  // made by: Unix, 2.0
    append_u16(central, kVersionNeeded);
    append_u16(central, 0);
    append_u16(central, 0);
    append_u16(central, kDosTime);
    append_u16(central, kDosDate);
    append_u32(central, crc);
    append_u32(central, size);
    append_u32(central, size);
    append_u16(central, static_cast<std::uint16_t>(name.size()));
    append_u16(central, 0);  // extra
    append_u16(central, 0);  // comment
    append_u16(central, 0);  // disk number
    append_u16(central, 0);  // internal attributes
    append_u32(central, 0100644u << 16);  // external attributes: a regular file, rw-r--r--
    append_u32(central, offset);
    central += name;
  }
  const std::uint32_t central_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  // End of central directory record.
  append_u32(out, 0x06054b50u);
  append_u16(out, 0);
  append_u16(out, 0);
  append_u16(out, static_cast<std::uint16_t>(entries.size()));
  append_u16(out, static_cast<std::uint16_t>(entries.size()));
  append_u32(out, static_cast<std::uint32_t>(central.size()));
  append_u32(out, central_offset);
  append_u16(out, 0);  // comment length
  return out;
}

std::string npz_model_bytes(const ModelFile& mf) {
  export_detail::check_exportable(mf);
  // scikit-learn's LogisticRegression has the softmax head only: its predict_proba is the softmax of the
  // logits (multinomial). Another head's probabilities cannot be expressed, so the format is refused for it.
  if (mf.model.head != LossHead::kSoftmax) {
    throw UsageError(std::string("--format npz: the model's loss head is ") + loss_head_name(mf.model.head) +
                     ", but npz holds scikit-learn's LogisticRegression, whose predict_proba is the softmax of the "
                     "logits: its probabilities would not be this model's. Export it as onnx (every head) or "
                     "safetensors (the head in its metadata)");
  }
  const std::uint64_t C = static_cast<std::uint64_t>(mf.model.num_classes);
  const std::uint64_t D = static_cast<std::uint64_t>(mf.model.input_dim);
  std::vector<std::int64_t> classes(static_cast<std::size_t>(C));
  for (std::size_t c = 0; c < classes.size(); ++c) classes[c] = mf.label_of(static_cast<int>(c));
  const double scale = mf.pixel_scale == 1.0f ? 1.0 : 1.0 / 255.0;
  std::vector<std::pair<std::string, std::string>> arrays = {
      {"coef_.npy", npy_bytes("<f4", {C, D}, export_detail::float32_bytes(mf.model.weights))},
      {"intercept_.npy", npy_bytes("<f4", {C}, export_detail::float32_bytes(mf.model.bias))},
      {"classes_.npy", npy_bytes("<i8", {C}, export_detail::int64_bytes(classes))},
      {"scale.npy", npy_bytes("<f8", {}, export_detail::float64_bytes({scale}))},
  };
  if (!mf.scaler.empty()) {
    arrays.push_back({"mean_.npy", npy_bytes("<f8", {D}, export_detail::float64_bytes(mf.scaler.mean))});
    arrays.push_back({"scale_.npy", npy_bytes("<f8", {D}, export_detail::float64_bytes(mf.scaler.scale))});
  }
  return stored_zip_bytes(arrays);
}

}  // namespace logreg
