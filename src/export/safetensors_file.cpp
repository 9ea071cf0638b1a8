// safetensors (include/logreg/export_safetensors.hpp): the writer of nn.Linear's state_dict with our
// metadata, and the reader that takes such a file, ours or PyTorch's, as a Model. Every size and offset
// from the file is checked against the file's length before use.
#include "logreg/export_safetensors.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "export_check.hpp"
#include "little_endian.hpp"
#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// A JSON value for a message: at most 60 characters of its text.
std::string short_json(const json& j) {
  std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// The reference implementation reads a header of at most this depth: {"name": {"shape": [...]}}; its metadata
// values are strings.
constexpr int kSafetensorsMaxDepth = 3;

// DataError at the first byte that opens a level past kSafetensorsMaxDepth, found before any parsing (a
// parser and a destructor that recurse would otherwise meet 85,000 levels).
void check_header_depth(const std::string& path, const unsigned char* text, std::uint64_t n) {
  int depth = 0;
  bool in_string = false;
  for (std::uint64_t i = 0; i < n; ++i) {
    const unsigned char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kSafetensorsMaxDepth) {
        throw DataError(path, "header at byte " + std::to_string(8 + i) + ": nested deeper than " +
                                  std::to_string(kSafetensorsMaxDepth) + " levels, which no safetensors header is");
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

struct TensorEntry {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;  // byte offsets into the data section
  std::uint64_t end = 0;
};

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::uint64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

// One tensor's header entry, with its offsets checked against the data section's `data_bytes`.
TensorEntry parse_entry(const std::string& path, const std::string& name, const json& j, std::uint64_t data_bytes) {
  const std::string where = "header entry \"" + name + "\"";
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets")) {
    throw DataError(path, where + ": expected an object with dtype, shape and data_offsets");
  }
  TensorEntry e;
  e.name = name;
  if (!j["dtype"].is_string()) throw DataError(path, where + ": dtype is not a string");
  e.dtype = j["dtype"].get<std::string>();
  const std::uint64_t item = dtype_bytes(e.dtype);
  if (item == 0) throw DataError(path, where + ": unknown dtype \"" + e.dtype + "\"");
  if (!j["shape"].is_array()) throw DataError(path, where + ": shape is not an array");
  std::uint64_t count = 1;
  for (const json& d : j["shape"]) {
    if (!d.is_number_unsigned()) throw DataError(path, where + ": shape holds " + short_json(d) + ", not a size");
    const std::uint64_t n = d.get<std::uint64_t>();
    if (n != 0 && count > std::numeric_limits<std::uint64_t>::max() / item / n) {
      throw DataError(path, where + ": shape " + short_json(j["shape"]) + " overflows a 64-bit byte count");
    }
    count *= n;
    e.shape.push_back(n);
  }
  const json& off = j["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
    throw DataError(path, where + ": data_offsets must be [begin, end]");
  }
  e.begin = off[0].get<std::uint64_t>();
  e.end = off[1].get<std::uint64_t>();
  if (e.begin > e.end || e.end > data_bytes) {
    throw DataError(path, where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                              "] lie outside the " + std::to_string(data_bytes) + " data bytes of the file");
  }
  if (e.end - e.begin != count * item) {
    throw DataError(path, where + ": " + e.dtype + " " + shape_text(e.shape) + " needs " + std::to_string(count * item) +
                              " bytes, data_offsets give " + std::to_string(e.end - e.begin));
  }
  return e;
}

std::vector<float> read_f32_tensor(const std::string& path, const TensorEntry& e, const unsigned char* data) {
  if (e.dtype != "F32") {
    throw DataError(path, "tensor \"" + e.name + "\" is " + e.dtype + ", expected F32 (float32; in PyTorch save "
                                                                      "model.float().state_dict())");
  }
  std::vector<float> v(static_cast<std::size_t>((e.end - e.begin) / 4));
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = export_detail::read_f32_le(data + e.begin + 4 * i);
    if (!std::isfinite(v[i])) {
      throw DataError(path, "tensor \"" + e.name + "\" element " + std::to_string(i) + " is " + std::to_string(v[i]) +
                                " (not finite)");
    }
  }
  return v;
}

// The tensor `name` (no prefix) when the file has it: `dtype`, one dimension of `n` elements, else DataError.
const TensorEntry* optional_vector(const std::string& path, const std::vector<TensorEntry>& entries, const char* name,
                                   const char* dtype, std::uint64_t n, const char* what) {
  for (const TensorEntry& e : entries) {
    if (e.name != name) continue;
    if (e.dtype != dtype || e.shape.size() != 1 || e.shape[0] != n) {
      throw DataError(path, "tensor \"" + e.name + "\" is " + e.dtype + " " + shape_text(e.shape) + ", expected " + dtype +
                                " [" + std::to_string(n) + "] (" + what + ")");
    }
    return &e;
  }
  return nullptr;
}

// A decimal metadata value, or `fallback` when absent. DataError when present but not a number in range.
std::uint64_t metadata_u64(const std::string& path, const json& meta, const char* key, std::uint64_t fallback,
                           std::uint64_t max) {
  if (!meta.contains(key)) return fallback;
  const json& v = meta[key];
  const std::string text = v.is_string() ? v.get<std::string>() : short_json(v);
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || n > max) {
    throw DataError(path, "__metadata__ \"" + std::string(key) + "\" is \"" + text + "\", expected a whole number up to " +
                              std::to_string(max));
  }
  return n;
}

}  // namespace

std::string safetensors_model_bytes(const ModelFile& mf) {
  export_detail::check_exportable(mf);
  const std::uint64_t C = static_cast<std::uint64_t>(mf.model.num_classes);
  const std::uint64_t D = static_cast<std::uint64_t>(mf.model.input_dim);
  ordered_json header;
  ordered_json& meta = header["__metadata__"];
  meta["format"] = "pt";  // what safetensors.torch.save_file writes
  meta["producer"] = "logreg_cuda 0.1.0";
  meta["model"] = "Linear(" + std::to_string(D) + " -> " + std::to_string(C) + ")";
  meta["loss_head"] = loss_head_name(mf.model.head);
  meta["rows"] = std::to_string(mf.rows);
  meta["cols"] = std::to_string(mf.cols);
  meta["epochs_done"] = std::to_string(mf.epochs_done);
  meta["seed"] = std::to_string(mf.seed);
  const bool features = !mf.class_labels.empty();
  if (!features) {
    meta["input"] = "x = pixel / 255 (as torchvision's ToTensor()), flattened to " + std::to_string(D) +
                    " values in row-major order; logits = x @ weight.T + bias";
  } else {
    meta["pixel_scale"] = mf.pixel_scale == 1.0f ? "1" : "1/255";
    meta["input"] = std::string(mf.pixel_scale == 1.0f ? "x = the " : "x = (uint8 value / 255) of the ") +
                    std::to_string(D) + " features" + (mf.scaler.empty() ? "" : ", then x = (x - mean) / scale") +
                    "; logits = x @ weight.T + bias; the predicted label is classes[argmax(logits)]";
  }
  meta["settings"] = mf.settings_json;
  // The tensors in data order: weight, bias, then a feature model's classes and its scaler.
  std::uint64_t at = 0;
  auto add = [&](const char* name, const char* dtype, std::vector<std::uint64_t> shape, std::uint64_t bytes) {
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {at, at + bytes}}};
    at += bytes;
  };
  add("weight", "F32", {C, D}, 4 * C * D);
  add("bias", "F32", {C}, 4 * C);
  if (features) add("classes", "I64", {C}, 8 * C);
  if (!mf.scaler.empty()) {
    add("mean", "F64", {D}, 8 * D);
    add("scale", "F64", {D}, 8 * D);
  }
  std::string text = header.dump(-1, ' ', false, ordered_json::error_handler_t::replace);  // bytes that are not UTF-8 (a path): U+FFFD
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out;
  export_detail::append_u64(out, text.size());
  out += text;
  out += export_detail::float32_bytes(mf.model.weights);
  out += export_detail::float32_bytes(mf.model.bias);
  if (features) out += export_detail::int64_bytes(mf.class_labels);
  if (!mf.scaler.empty()) {
    out += export_detail::float64_bytes(mf.scaler.mean);
    out += export_detail::float64_bytes(mf.scaler.scale);
  }
  return out;
}

ModelFile load_safetensors_model(const std::string& path) {
  // The 8-byte length and the header first: the data are read only once the header accounts for every byte.
  std::uint64_t file_bytes = 0;
  const std::vector<std::uint8_t> length = read_file_prefix(path, 8, &file_bytes);
  if (file_bytes < 8) {
    throw DataError(path, "header length at byte 0: the file has " + std::to_string(file_bytes) +
                              " bytes, a safetensors file starts with an 8-byte length");
  }
  const std::uint64_t n = export_detail::read_u64_le(length.data());
  if (n > file_bytes - 8 || n > kSafetensorsMaxHeaderBytes) {
    throw DataError(path, "header length at byte 0: " + std::to_string(n) + " bytes, but the file has " +
                              std::to_string(file_bytes - 8) + " after it (limit " +
                              std::to_string(kSafetensorsMaxHeaderBytes) + "): not a safetensors file, or truncated");
  }
  const std::vector<std::uint8_t> head = read_file_prefix(path, 8 + n, &file_bytes);
  if (head.size() != 8 + n) throw DataError(path, "the file shrank while it was read");
  const unsigned char* text = head.data() + 8;
  if (n >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF) {
    throw DataError(path, "header at byte 8 starts with a UTF-8 byte-order mark, which JSON does not allow");
  }
  check_header_depth(path, text, n);
  // Parsed with a duplicate-key check in every object (the reference refuses them; a JSON library keeps one).
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const json::parser_callback_t no_duplicates = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() && duplicate.empty() &&
               !open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, text + n, no_duplicates);
  } catch (const json::parse_error& e) {
    throw DataError(path, "header is not valid JSON (at byte " + std::to_string(8 + e.byte - 1) + ")");
  } catch (const json::exception&) {
    throw DataError(path, "header is not valid JSON");
  }
  if (!duplicate.empty()) {
    throw DataError(path, "header holds the key \"" + short_json(json(duplicate)).substr(1) + " more than once");
  }
  if (!header.is_object()) throw DataError(path, "header at byte 8 is not a JSON object");
  const std::uint64_t data_bytes = file_bytes - 8 - n;

  json meta = json::object();
  std::vector<TensorEntry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      if (!item.value().is_object()) throw DataError(path, "__metadata__ is not a JSON object");
      meta = item.value();
      continue;
    }
    entries.push_back(parse_entry(path, item.key(), item.value(), data_bytes));
  }
  // The tensors cover the data section exactly, in some order: no gaps, no overlaps, nothing after the last.
  std::vector<const TensorEntry*> by_offset;
  for (const TensorEntry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  std::uint64_t covered = 0;
  for (const TensorEntry* e : by_offset) {
    if (e->begin != covered) {
      throw DataError(path, "header entry \"" + e->name + "\": data_offsets begin at " + std::to_string(e->begin) +
                                ", expected " + std::to_string(covered) + " (" +
                                (e->begin < covered ? "it overlaps another tensor" : "a gap before it") +
                                "): the tensors must cover the data bytes exactly");
    }
    covered = e->end;
  }
  if (covered != data_bytes) {
    throw DataError(path, std::to_string(data_bytes - covered) + " bytes after the last tensor (the data section has " +
                              std::to_string(data_bytes) + ", the tensors cover " + std::to_string(covered) + ")");
  }
  const std::vector<std::uint8_t> bytes = read_whole_file(path);
  if (bytes.size() != file_bytes) throw DataError(path, "the file changed size while it was read");
  const unsigned char* data = bytes.data() + 8 + n;

  // "weight" + "bias", or exactly one "P.weight" + "P.bias" pair.
  std::vector<std::string> prefixes;
  for (const TensorEntry& e : entries) {
    const std::string& k = e.name;
    if (k == "weight") prefixes.push_back("");
    else if (k.size() > 7 && k.compare(k.size() - 7, 7, ".weight") == 0) prefixes.push_back(k.substr(0, k.size() - 6));
  }
  if (prefixes.empty()) {
    std::string names;
    for (const TensorEntry& e : entries) names += (names.empty() ? "" : ", ") + e.name;
    throw DataError(path, "no \"weight\" tensor (nn.Linear's state_dict has weight and bias); the file holds: " +
                              (names.empty() ? std::string("no tensors") : names));
  }
  if (prefixes.size() > 1) {
    std::string names;
    for (const std::string& p : prefixes) names += (names.empty() ? "" : ", ") + p + "weight";
    throw DataError(path, "more than one weight tensor (" + names + "): save the nn.Linear's own state_dict");
  }
  const std::string& prefix = prefixes[0];
  const TensorEntry* w = nullptr;
  const TensorEntry* b = nullptr;
  for (const TensorEntry& e : entries) {
    if (e.name == prefix + "weight") w = &e;
    if (e.name == prefix + "bias") b = &e;
  }
  if (b == nullptr) throw DataError(path, "no \"" + prefix + "bias\" tensor next to \"" + w->name + "\" (nn.Linear with bias=True)");
  if (w->shape.size() != 2 || w->shape[0] == 0 || w->shape[1] == 0) {
    throw DataError(path, "tensor \"" + w->name + "\" has shape " + shape_text(w->shape) + ", expected [C, D]");
  }
  const std::uint64_t C = w->shape[0];
  const std::uint64_t D = w->shape[1];
  if (C > kModelFileMaxClasses) {
    throw DataError(path, "tensor \"" + w->name + "\" has " + std::to_string(C) + " classes (rows), more than " +
                              std::to_string(kModelFileMaxClasses));
  }
  if (D > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    throw DataError(path, "tensor \"" + w->name + "\" has " + std::to_string(D) + " inputs, too many");
  }
  if (b->shape.size() != 1 || b->shape[0] != C) {
    throw DataError(path, "tensor \"" + b->name + "\" has shape " + shape_text(b->shape) + ", expected [" +
                              std::to_string(C) + "] to match \"" + w->name + "\" " + shape_text(w->shape));
  }

  ModelFile mf;
  mf.model.num_classes = static_cast<int>(C);
  mf.model.input_dim = static_cast<int>(D);
  mf.model.weights = read_f32_tensor(path, *w, data);
  mf.model.bias = read_f32_tensor(path, *b, data);

  // A feature model's class labels and scaler (written by safetensors_model_bytes), when present.
  if (const TensorEntry* e = optional_vector(path, entries, "classes", "I64", C, "the class labels, ascending")) {
    mf.class_labels.resize(C);
    for (std::size_t c = 0; c < mf.class_labels.size(); ++c) {
      mf.class_labels[c] = static_cast<std::int64_t>(export_detail::read_u64_le(data + e->begin + 8 * c));
      if (c > 0 && mf.class_labels[c] <= mf.class_labels[c - 1]) {
        throw DataError(path, "tensor \"classes\" element " + std::to_string(c) + " is " +
                                  std::to_string(mf.class_labels[c]) + " after " + std::to_string(mf.class_labels[c - 1]) +
                                  ": expected strictly ascending labels");
      }
    }
  }
  const TensorEntry* mean = optional_vector(path, entries, "mean", "F64", D, "the scaler's means");
  const TensorEntry* scale = optional_vector(path, entries, "scale", "F64", D, "the scaler's standard deviations");
  if ((mean == nullptr) != (scale == nullptr)) {
    throw DataError(path, std::string("tensor \"") + (mean ? "mean" : "scale") + "\" without \"" + (mean ? "scale" : "mean") +
                              "\": a scaler needs both");
  }
  if (mean != nullptr) {
    if (mf.class_labels.empty()) {
      throw DataError(path, "tensors \"mean\" and \"scale\" without \"classes\": a scaler belongs to a feature model");
    }
    mf.scaler.mean.resize(D);
    mf.scaler.scale.resize(D);
    for (std::size_t j = 0; j < D; ++j) {
      mf.scaler.mean[j] = export_detail::read_f64_le(data + mean->begin + 8 * j);
      mf.scaler.scale[j] = export_detail::read_f64_le(data + scale->begin + 8 * j);
      if (!std::isfinite(mf.scaler.mean[j]) || !std::isfinite(mf.scaler.scale[j]) || !(mf.scaler.scale[j] > 0.0)) {
        throw DataError(path, "scaler feature " + std::to_string(j) + ": mean " + std::to_string(mf.scaler.mean[j]) +
                                  ", scale " + std::to_string(mf.scaler.scale[j]) + " (expected finite, and a scale > 0)");
      }
    }
  }

  for (const auto& item : meta.items()) {
    if (!item.value().is_string()) throw DataError(path, "__metadata__ \"" + item.key() + "\" is not a string");
  }
  if (meta.contains("loss_head")) {
    const std::string head = meta["loss_head"].get<std::string>();
    if (!parse_loss_head(head, &mf.model.head)) {
      throw DataError(path, "__metadata__ \"loss_head\" is \"" + head + "\", expected softmax, sigmoid-softmax or ovr");
    }
  }
  if (meta.contains("rows") || meta.contains("cols")) {
    mf.rows = static_cast<std::uint32_t>(metadata_u64(path, meta, "rows", 0, std::numeric_limits<std::uint32_t>::max()));
    mf.cols = static_cast<std::uint32_t>(metadata_u64(path, meta, "cols", 0, std::numeric_limits<std::uint32_t>::max()));
    if (static_cast<std::uint64_t>(mf.rows) * mf.cols != D) {
      throw DataError(path, "__metadata__ rows x cols = " + std::to_string(mf.rows) + "x" + std::to_string(mf.cols) +
                                " does not match the " + std::to_string(D) + " columns of \"" + w->name + "\"");
    }
  } else {
    // No shape recorded (a PyTorch file): square images when D is a square (784 -> 28x28), else one row.
    const auto side = static_cast<std::uint64_t>(std::llround(std::sqrt(static_cast<double>(D))));
    const bool square = side * side == D;
    mf.rows = static_cast<std::uint32_t>(square ? side : 1);
    mf.cols = static_cast<std::uint32_t>(square ? side : D);
  }
  if (meta.contains("pixel_scale")) {
    const std::string ps = meta["pixel_scale"].get<std::string>();
    if (ps != "1/255" && !(ps == "1" && !mf.class_labels.empty())) {
      throw DataError(path, "__metadata__ \"pixel_scale\" is \"" + short_json(json(ps)).substr(1) +
                                ", expected \"1/255\", or \"1\" with a \"classes\" tensor (a model of float features)");
    }
    mf.pixel_scale = ps == "1" ? 1.0f : kModelFilePixelScale;
  }
  mf.epochs_done = static_cast<std::uint32_t>(
      metadata_u64(path, meta, "epochs_done", 0, std::numeric_limits<std::uint32_t>::max()));
  mf.seed = metadata_u64(path, meta, "seed", 0, std::numeric_limits<std::uint64_t>::max());
  if (meta.contains("settings")) {
    mf.settings_json = meta["settings"].get<std::string>();
  } else {
    mf.settings_json = ordered_json{{"source", path}, {"format", "safetensors"}, {"weight", w->name}}.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  }
  return mf;
}

Model load_safetensors_initial_model(const std::string& path, int input_dim, int num_classes, LossHead head) {
  ModelFile mf = load_safetensors_model(path);
  if (mf.model.input_dim != input_dim || mf.model.num_classes != num_classes) {
    throw DataError(path, "--init: the model is Linear(" + std::to_string(mf.model.input_dim) + " -> " +
                              std::to_string(mf.model.num_classes) + "), the data needs Linear(" +
                              std::to_string(input_dim) + " -> " + std::to_string(num_classes) + ")");
  }
  mf.model.head = head;
  return std::move(mf.model);
}

bool is_safetensors_path(const std::string& path) {
  const std::string ext = ".safetensors";
  if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0) return true;
  std::ifstream in(path, std::ios::binary);
  char head[9] = {};
  return in.read(head, 9) && std::memcmp(head, kModelFileMagic, 8) != 0 && head[8] == '{';
}

ModelFile load_any_model_file(const std::string& path) {
  return is_safetensors_path(path) ? load_safetensors_model(path) : load_model_file(path);
}

}  // namespace logreg
