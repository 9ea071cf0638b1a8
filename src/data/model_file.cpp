// The model file (include/logreg/model_file.hpp): explicit little-endian encoding, the consistency checks
// before a save, and a reader that bounds every size by the file length before using it. The byte layout is
// documented once, in the header; reading and atomically writing whole files is whole_file.cpp.
#include "logreg/model_file.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {
namespace {

// Offsets of the fixed fields (see the table in model_file.hpp).
constexpr std::size_t kOffsetVersion = 8;
constexpr std::size_t kOffsetHeaderBytes = 12;
constexpr std::size_t kOffsetRows = 16;
constexpr std::size_t kOffsetCols = 20;
constexpr std::size_t kOffsetClasses = 24;
constexpr std::size_t kOffsetHead = 28;
constexpr std::size_t kOffsetScale = 32;
constexpr std::size_t kOffsetEpochs = 36;
constexpr std::size_t kOffsetSeed = 40;
constexpr std::size_t kOffsetSettingsBytes = 48;
constexpr std::size_t kOffsetSettings = 52;
constexpr std::uint64_t kMinFileBytes = kOffsetSettings + 4 + 4;  // empty settings, C*D = 0, K = 0

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

std::uint32_t crc32_of(const std::uint8_t* data, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(n < (1u << 30) ? n : (1u << 30));
    crc = crc32(crc, data, chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

// ---- encoding -----------------------------------------------------------------------------------

class LittleEndianWriter {
 public:
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
  }
  void f32(float v) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    u32(bits);
  }
  void f32s(const std::vector<float>& v) {
    for (float x : v) f32(x);
  }
  void f64s(const std::vector<double>& v) {
    for (double x : v) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, &x, 8);
      u64(bits);
    }
  }
  void raw(const char* p, std::size_t n) { bytes_.append(p, n); }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

void check_finite_for_save(const std::string& path, const char* what, const std::vector<float>& v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      throw DivergedError("refusing to save " + path + ": " + what + "[" + std::to_string(i) +
                          "] is not finite (" + std::to_string(v[i]) + ")");
    }
  }
}

void check_consistent_for_save(const std::string& path, const ModelFile& f) {
  const Model& m = f.model;
  auto bad = [&](const std::string& why) { throw std::invalid_argument("save_model_file(" + path + "): " + why); };
  if (m.num_classes < 1 || static_cast<std::uint32_t>(m.num_classes) > kModelFileMaxClasses) {
    bad("num_classes " + std::to_string(m.num_classes) + " is outside [1, 256]");
  }
  if (f.rows == 0 || f.cols == 0 || static_cast<std::uint64_t>(f.rows) * f.cols != static_cast<std::uint64_t>(m.input_dim)) {
    bad("rows " + std::to_string(f.rows) + " x cols " + std::to_string(f.cols) + " does not equal input_dim " +
        std::to_string(m.input_dim));
  }
  const std::size_t cd = static_cast<std::size_t>(m.num_classes) * static_cast<std::size_t>(m.input_dim);
  if (m.weights.size() != cd) bad(std::to_string(m.weights.size()) + " weights, expected C*D = " + std::to_string(cd));
  if (m.bias.size() != static_cast<std::size_t>(m.num_classes)) {
    bad(std::to_string(m.bias.size()) + " biases, expected C = " + std::to_string(m.num_classes));
  }
  if (!f.optimizer_state.empty() && f.optimizer_state.size() != cd + m.bias.size()) {
    bad(std::to_string(f.optimizer_state.size()) + " optimizer state floats, expected 0 or C*D + C = " +
        std::to_string(cd + m.bias.size()));
  }
  if (f.settings_json.size() > std::numeric_limits<std::uint32_t>::max() ||
      f.optimizer_state.size() > std::numeric_limits<std::uint32_t>::max()) {
    bad("settings or optimizer state too large for a u32 length");
  }
  if (f.pixel_scale != kModelFilePixelScale && (f.pixel_scale != 1.0f || f.class_labels.empty())) {
    bad("pixel scale must be 1/255, or 1 for a model with class labels (version 2)");
  }
  if (!f.scaler.empty() || !f.scaler.mean.empty()) {
    if (f.class_labels.empty()) bad("a scaler needs class labels (a feature model, version 3)");
    const std::size_t d = static_cast<std::size_t>(m.input_dim);
    if (f.scaler.mean.size() != d || f.scaler.scale.size() != d) {
      bad("scaler of " + std::to_string(f.scaler.mean.size()) + " means and " + std::to_string(f.scaler.scale.size()) +
          " scales, expected D = " + std::to_string(d) + " of each");
    }
    for (std::size_t j = 0; j < d; ++j) {
      if (!std::isfinite(f.scaler.mean[j]) || !std::isfinite(f.scaler.scale[j]) || !(f.scaler.scale[j] > 0.0)) {
        throw DivergedError("refusing to save " + path + ": scaler feature " + std::to_string(j) + " has mean " +
                            std::to_string(f.scaler.mean[j]) + " and scale " + std::to_string(f.scaler.scale[j]) +
                            " (expected finite, and a scale > 0)");
      }
    }
  }
  if (!f.class_labels.empty()) {
    if (f.class_labels.size() != static_cast<std::size_t>(m.num_classes)) {
      bad(std::to_string(f.class_labels.size()) + " class labels, expected 0 or C = " + std::to_string(m.num_classes));
    }
    if (!std::is_sorted(f.class_labels.begin(), f.class_labels.end()) ||
        std::adjacent_find(f.class_labels.begin(), f.class_labels.end()) != f.class_labels.end()) {
      bad("class labels are not strictly ascending");
    }
  }
  LossHead head;
  if (!value_from_code(kLossHeadNames, static_cast<std::uint64_t>(static_cast<int>(m.head)), &head)) {
    bad("unknown loss head " + std::to_string(static_cast<int>(m.head)));
  }
  check_finite_for_save(path, "weights", m.weights);
  check_finite_for_save(path, "bias", m.bias);
  check_finite_for_save(path, "optimizer_state", f.optimizer_state);
}

std::string encode_model_file(const ModelFile& f) {
  LittleEndianWriter w;
  w.raw(kModelFileMagic, sizeof kModelFileMagic);
  w.u32(!f.scaler.empty() ? kModelFileVersionWithScaler
                           : f.class_labels.empty() ? kModelFileVersion : kModelFileVersionWithLabels);
  w.u32(kModelFileHeaderBytes);
  w.u32(f.rows);
  w.u32(f.cols);
  w.u32(static_cast<std::uint32_t>(f.model.num_classes));
  w.u32(static_cast<std::uint32_t>(f.model.head));
  w.f32(f.pixel_scale);
  w.u32(f.epochs_done);
  w.u64(f.seed);
  w.u32(static_cast<std::uint32_t>(f.settings_json.size()));
  w.raw(f.settings_json.data(), f.settings_json.size());
  w.f32s(f.model.weights);
  w.f32s(f.model.bias);
  w.u32(static_cast<std::uint32_t>(f.optimizer_state.size()));
  w.f32s(f.optimizer_state);
  if (!f.class_labels.empty()) {
    w.u32(static_cast<std::uint32_t>(f.class_labels.size()));
    for (const std::int64_t label : f.class_labels) w.u64(static_cast<std::uint64_t>(label));
  }
  if (!f.scaler.empty()) {
    w.u32(static_cast<std::uint32_t>(f.scaler.scale.size()));
    w.f64s(f.scaler.mean);
    w.f64s(f.scaler.scale);
  }
  std::string& bytes = w.bytes();
  w.u32(crc32_of(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  return std::move(bytes);
}

// ---- decoding -----------------------------------------------------------------------------------

// Reads fields of the in-memory file at checked offsets; errors name the file, field and offset.
class ModelFileReader {
 public:
  ModelFileReader(const std::string& path, const std::vector<std::uint8_t>& bytes) : path_(path), bytes_(bytes) {}

  [[noreturn]] void fail(const std::string& field, std::uint64_t offset, const std::string& why) const {
    throw DataError(path_, field + " at byte " + std::to_string(offset) + ": " + why);
  }

  void require(const std::string& field, std::uint64_t offset, std::uint64_t n) const {
    if (offset > bytes_.size() || n > bytes_.size() - offset) {
      fail(field, offset, "the file is truncated: it has " + std::to_string(bytes_.size()) + " bytes, the field needs " +
                              std::to_string(offset + n));
    }
  }

  std::uint32_t u32(const std::string& field, std::uint64_t offset) const {
    require(field, offset, 4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(bytes_[offset + static_cast<std::size_t>(i)]) << (8 * i);
    return v;
  }
  std::uint64_t u64(const std::string& field, std::uint64_t offset) const {
    require(field, offset, 8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(bytes_[offset + static_cast<std::size_t>(i)]) << (8 * i);
    return v;
  }
  float f32(const std::string& field, std::uint64_t offset) const {
    const std::uint32_t bits = u32(field, offset);
    float v = 0.0f;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  // `count` doubles at `offset`, each finite and, when `positive`, > 0.
  std::vector<double> finite_f64s(const std::string& field, std::uint64_t offset, std::uint64_t count,
                                  bool positive) const {
    require(field, offset, count * 8);
    std::vector<double> v(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::uint64_t at = offset + 8 * static_cast<std::uint64_t>(i);
      const std::uint64_t bits = u64(field, at);
      std::memcpy(&v[i], &bits, 8);
      if (!std::isfinite(v[i]) || (positive && !(v[i] > 0.0))) {
        fail(field + "[" + std::to_string(i) + "]", at,
             std::to_string(v[i]) + (positive ? " is not a finite number > 0" : " is not finite"));
      }
    }
    return v;
  }
  // `count` floats at `offset`, each finite; the caller has bounded count by the file length.
  std::vector<float> finite_f32s(const std::string& field, std::uint64_t offset, std::uint64_t count) const {
    require(field, offset, count * 4);
    std::vector<float> v(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::uint64_t at = offset + 4 * static_cast<std::uint64_t>(i);
      v[i] = f32(field, at);
      if (!std::isfinite(v[i])) fail(field + "[" + std::to_string(i) + "]", at, "not finite (" + std::to_string(v[i]) + ")");
    }
    return v;
  }

  std::uint64_t size() const { return bytes_.size(); }
  const std::uint8_t* data() const { return bytes_.data(); }

 private:
  const std::string& path_;
  const std::vector<std::uint8_t>& bytes_;
};

std::string printable_magic(const std::uint8_t* p, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '\\' && p[i] != '"') {
      s += static_cast<char>(p[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(p[i]));
      s += buf;
    }
  }
  return "\"" + s + "\"";
}

}  // namespace

void save_model_file(const std::string& path, const ModelFile& file) {
  check_consistent_for_save(path, file);
  write_whole_file_atomically(path, encode_model_file(file));
}

namespace {

// Steps 1 and 2 of the reading, on the fixed fields alone (`head`: the file's first bytes, at least the fixed
// fields when the file has them) and the file's length: what kind of file it is, and whether its length can be
// what the header describes (at most 4 bytes per weight and bias of optimizer state besides the rest). Run on
// the first bytes before the file is read whole, so a wrong or lying file costs what its header declares.
struct HeaderFields {
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  std::uint32_t classes = 0;
  std::uint64_t dim = 0;
  std::uint32_t version = 0;
};

HeaderFields check_model_header(const std::string& path, const std::vector<std::uint8_t>& head,
                                std::uint64_t file_bytes) {
  const ModelFileReader r(path, head);
  // 1. What kind of file this is: magic, version, header size.
  if (head.size() < sizeof kModelFileMagic || std::memcmp(head.data(), kModelFileMagic, sizeof kModelFileMagic) != 0) {
    r.fail("magic", 0,
           "expected \"LOGREGMD\", found " + printable_magic(head.data(), std::min<std::size_t>(head.size(), 8)) +
               ": not a logreg_cuda model file");
  }
  if (file_bytes < kMinFileBytes) {
    r.fail("header", 0, "the file is truncated: " + std::to_string(file_bytes) + " bytes, a model file has at least " +
                            std::to_string(kMinFileBytes));
  }
  const std::uint32_t version = r.u32("version", kOffsetVersion);
  if (version != kModelFileVersion && version != kModelFileVersionWithLabels &&
      version != kModelFileVersionWithScaler) {
    r.fail("version", kOffsetVersion,
           "unsupported model file version " + std::to_string(version) + "; this build reads versions " +
               std::to_string(kModelFileVersion) + " to " + std::to_string(kModelFileVersionWithScaler));
  }
  const std::uint32_t header_bytes = r.u32("header_bytes", kOffsetHeaderBytes);
  if (header_bytes != kModelFileHeaderBytes) {
    r.fail("header_bytes", kOffsetHeaderBytes,
           "expected " + std::to_string(kModelFileHeaderBytes) + " for versions 1 to 3, found " +
               std::to_string(header_bytes));
  }

  // 2. Sizes, each bounded by the file length before it is used.
  HeaderFields h;
  h.version = version;
  h.rows = r.u32("rows", kOffsetRows);
  h.cols = r.u32("cols", kOffsetCols);
  h.classes = r.u32("num_classes", kOffsetClasses);
  h.dim = static_cast<std::uint64_t>(h.rows) * h.cols;  // < 2^64
  if (h.rows == 0 || h.cols == 0 || h.dim > static_cast<std::uint64_t>(INT_MAX)) {
    r.fail("rows", kOffsetRows,
           "input shape " + std::to_string(h.rows) + "x" + std::to_string(h.cols) + " is empty or too large");
  }
  if (h.classes < 1 || h.classes > kModelFileMaxClasses) {
    r.fail("num_classes", kOffsetClasses, std::to_string(h.classes) + " is outside [1, 256]");
  }
  if (h.dim > file_bytes / (4ull * h.classes)) {
    r.fail("weights", kOffsetSettings,
           "the header's shape " + std::to_string(h.rows) + "x" + std::to_string(h.cols) + " with " +
               std::to_string(h.classes) + " classes needs " + std::to_string(4 * h.dim) + " bytes per class, more than the " +
               std::to_string(file_bytes) + "-byte file holds: truncated or corrupted");
  }
  const std::uint64_t parameters = h.dim * h.classes + h.classes;  // < 2^40
  const std::uint64_t settings_bytes = r.u32("settings_json_bytes", kOffsetSettingsBytes);
  const std::uint64_t label_bytes = version >= kModelFileVersionWithLabels ? 4 + 8ull * h.classes : 0;
  const std::uint64_t scaler_bytes = version == kModelFileVersionWithScaler ? 4 + 16 * h.dim : 0;  // < 2^36
  const std::uint64_t most_bytes =
      kOffsetSettings + settings_bytes + 4 * parameters + 4 + 4 * parameters + label_bytes + scaler_bytes + 4;
  if (file_bytes > most_bytes) {
    r.fail("file length", most_bytes,
           "the header describes at most " + std::to_string(most_bytes) + " bytes (settings " +
               std::to_string(settings_bytes) + " bytes, " + std::to_string(parameters) +
               " parameters and as many optimizer floats) but the file has " + std::to_string(file_bytes) +
               ": not a model file of this shape");
  }
  return h;
}

}  // namespace

ModelFile load_model_file(const std::string& path) {
  std::uint64_t file_bytes = 0;
  const std::vector<std::uint8_t> first_bytes = read_file_prefix(path, kOffsetSettings, &file_bytes);
  check_model_header(path, first_bytes, file_bytes);
  const std::vector<std::uint8_t> bytes = read_whole_file(path);
  const ModelFileReader r(path, bytes);
  const HeaderFields h = check_model_header(path, bytes, bytes.size());  // again: the file may have changed
  file_bytes = r.size();
  const std::uint32_t rows = h.rows;
  const std::uint32_t cols = h.cols;
  const std::uint32_t classes = h.classes;
  const std::uint64_t dim = h.dim;
  const std::uint64_t weight_count = dim * classes;  // <= file_bytes / 4
  const std::uint64_t settings_bytes = r.u32("settings_json_bytes", kOffsetSettingsBytes);
  const std::uint64_t weights_offset = kOffsetSettings + settings_bytes;
  const std::uint64_t bias_offset = weights_offset + 4 * weight_count;
  const std::uint64_t state_count_offset = bias_offset + 4ull * classes;
  const std::uint64_t state_count = r.u32("optimizer_state_floats", state_count_offset);  // checks bounds
  const std::uint64_t state_offset = state_count_offset + 4;
  const std::uint64_t labels_offset = state_offset + 4 * state_count;  // version 2: the class labels' count
  const std::uint64_t scaler_offset =  // version 3: the scaler's count
      labels_offset + (h.version >= kModelFileVersionWithLabels ? 4 + 8ull * classes : 0);
  const std::uint64_t crc_offset = scaler_offset + (h.version == kModelFileVersionWithScaler ? 4 + 16 * dim : 0);
  const std::uint64_t expected_bytes = crc_offset + 4;
  if (expected_bytes != file_bytes) {
    r.fail(expected_bytes > file_bytes ? "file length" : "trailing bytes", std::min(expected_bytes, file_bytes),
           "the header describes " + std::to_string(expected_bytes) + " bytes (settings " +
               std::to_string(settings_bytes) + " bytes, " + std::to_string(weight_count) + " weights, " +
               std::to_string(classes) + " biases, " + std::to_string(state_count) +
               " optimizer floats" + (h.version >= kModelFileVersionWithLabels ? std::string(", the class labels") : "") +
               (h.version == kModelFileVersionWithScaler ? std::string(", the scaler") : "") +
               ") but the file has " + std::to_string(file_bytes) + (expected_bytes > file_bytes ? ": the file is truncated" : ": unexpected data after the checksum"));
  }

  // 3. The checksum, before any value is trusted.
  const std::uint32_t stored_crc = r.u32("crc32", crc_offset);
  const std::uint32_t actual_crc = crc32_of(r.data(), static_cast<std::size_t>(crc_offset));
  if (stored_crc != actual_crc) {
    r.fail("crc32", crc_offset,
           "checksum mismatch: the file is corrupted (stored " + hex32(stored_crc) + ", computed " + hex32(actual_crc) + ")");
  }

  // 4. Values.
  const std::uint32_t head_code = r.u32("loss head", kOffsetHead);
  LossHead head = LossHead::kSoftmax;
  if (!value_from_code(kLossHeadNames, head_code, &head)) {
    r.fail("loss head", kOffsetHead, std::to_string(head_code) + " is not " + codes_with_names(kLossHeadNames));
  }
  const float scale = r.f32("pixel scale", kOffsetScale);
  if (!std::isfinite(scale) || !(scale > 0.0f)) {
    r.fail("pixel scale", kOffsetScale, std::to_string(scale) + " is not a finite positive number");
  }
  if (scale != kModelFilePixelScale && !(scale == 1.0f && h.version >= kModelFileVersionWithLabels)) {
    r.fail("pixel scale", kOffsetScale, std::to_string(scale) + " is not supported: this build scales pixels by 1/255 (and "
                                        "version 2 and 3 files of float features by 1)");
  }
  if (state_count != 0 && state_count != weight_count + classes) {
    r.fail("optimizer_state_floats", state_count_offset,
           std::to_string(state_count) + ", expected 0 or C*D + C = " + std::to_string(weight_count + classes));
  }

  ModelFile f;
  f.pixel_scale = scale;
  f.rows = rows;
  f.cols = cols;
  f.epochs_done = r.u32("epochs_done", kOffsetEpochs);
  if (f.epochs_done > kModelFileMaxEpochs) {
    r.fail("epochs_done", kOffsetEpochs,
           std::to_string(f.epochs_done) + " is outside [0, " + std::to_string(kModelFileMaxEpochs) +
               "] (the most epochs a run can have)");
  }
  f.seed = r.u64("seed", kOffsetSeed);
  f.settings_json.assign(reinterpret_cast<const char*>(r.data()) + kOffsetSettings, static_cast<std::size_t>(settings_bytes));
  f.model.input_dim = static_cast<int>(dim);
  f.model.num_classes = static_cast<int>(classes);
  f.model.head = head;
  f.model.weights = r.finite_f32s("weights", weights_offset, weight_count);
  f.model.bias = r.finite_f32s("bias", bias_offset, classes);
  f.optimizer_state = r.finite_f32s("optimizer_state", state_offset, state_count);
  if (h.version >= kModelFileVersionWithLabels) {
    const std::uint32_t label_count = r.u32("class_label_count", labels_offset);
    if (label_count != classes) {
      r.fail("class_label_count", labels_offset, std::to_string(label_count) + ", expected num_classes " + std::to_string(classes));
    }
    f.class_labels.resize(classes);
    for (std::uint32_t c = 0; c < classes; ++c) {
      const std::uint64_t at = labels_offset + 4 + 8ull * c;
      f.class_labels[c] = static_cast<std::int64_t>(r.u64("class_labels", at));
      if (c > 0 && f.class_labels[c] <= f.class_labels[c - 1]) {
        r.fail("class_labels[" + std::to_string(c) + "]", at,
               std::to_string(f.class_labels[c]) + " after " + std::to_string(f.class_labels[c - 1]) +
                   ": expected strictly ascending labels");
      }
    }
  }
  if (h.version == kModelFileVersionWithScaler) {
    const std::uint32_t scaler_count = r.u32("scaler_count", scaler_offset);
    if (scaler_count != dim) {
      r.fail("scaler_count", scaler_offset, std::to_string(scaler_count) + ", expected D = " + std::to_string(dim));
    }
    f.scaler.mean = r.finite_f64s("scaler mean", scaler_offset + 4, dim, false);
    f.scaler.scale = r.finite_f64s("scaler scale", scaler_offset + 4 + 8 * dim, dim, true);
  }
  return f;
}

}  // namespace logreg
