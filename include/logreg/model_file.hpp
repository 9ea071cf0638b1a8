// Saved models: the little-endian binary model file (".lrm") with its byte layout, the writer (through
// whole_file.hpp's atomic writer) and the validating reader. Inference on a loaded model is in
// evaluation.hpp; nothing here trains.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/model.hpp"

namespace logreg {

// Model file, versions 1, 2 and 3. Every integer and float is little-endian; floats are IEEE-754 binary32.
// C = num_classes, D = rows * cols, S = settings_json_bytes, K = optimizer_state_floats.
//
//   offset        size    field
//   0             8       magic, the ASCII bytes "LOGREGMD"
//   8             4       u32 version: 1; 2 when the file holds class labels; 3 when it also holds a scaler (below)
//   12            4       u32 header_bytes = 48: bytes from offset 0 up to settings_json_bytes
//                         (the fixed-size fields below); a reader of versions 1 to 3 requires 48
//   16            4       u32 rows     image height the model was trained on (1 for a feature matrix)
//   20            4       u32 cols     image width (the feature count for a feature matrix); D = rows * cols
//   24            4       u32 num_classes, C in [1, 256]
//   28            4       u32 loss head, the LossHead value: 0 softmax, 1 sigmoid-softmax, 2 ovr
//   32            4       f32 pixel scale: input = pixel * scale; 1/255 (ToTensor's "pixel / 255", and uint8
//                         features); versions 2 and 3 also 1: a model of float features, used as they are
//   36            4       u32 epochs_done, at most 1000000 (train --epochs' limit)
//   40            8       u64 seed of the run
//   48            4       u32 settings_json_bytes S
//   52            S       the run's full settings as UTF-8 JSON (the reproducibility record)
//   52+S          4*C*D   f32 weights (C, D) row-major, as nn.Linear.weight
//   52+S+4CD      4*C     f32 bias (C)
//   52+S+4CD+4C   4       u32 optimizer_state_floats K: 0, or C*D + C
//   56+S+4CD+4C   4*K     f32 optimizer state: momentum velocity of the weights (C, D), then of the bias (C)
//   versions 2 and 3, at E = 56+S+4CD+4C+4K:
//   E             4       u32 class_label_count L = C
//   E+4           8*L     i64 class labels, strictly ascending: the data's label of class c (scikit-learn's
//                         classes_); version 1 files have the labels 0..C-1
//   version 3 only, at F = E+4+8L (train --standardize: input = (x - mean) / scale per feature):
//   F             4       u32 scaler_count = D
//   F+4           8*D     f64 mean (D), finite: the training rows' means (zeros for CSR training rows)
//   F+4+8D        8*D     f64 scale (D), finite and > 0: their population standard deviations (1 for a constant
//                         feature)
//   end - 4       4       u32 CRC-32 (zlib's crc32, the gzip/PNG polynomial) of every byte before it
//
// Total length: 60 + S + 4*(C*D + C + K) (version 1), plus 4 + 8*C (versions 2 and 3), plus 4 + 16*D (version 3);
// nothing may follow the CRC. IDX-trained models are written as version 1, byte for byte as before version 2
// existed; feature models as version 2, or 3 when they carry a scaler.
inline constexpr char kModelFileMagic[8] = {'L', 'O', 'G', 'R', 'E', 'G', 'M', 'D'};
inline constexpr std::uint32_t kModelFileVersion = 1;
inline constexpr std::uint32_t kModelFileVersionWithLabels = 2;
inline constexpr std::uint32_t kModelFileVersionWithScaler = 3;
inline constexpr std::uint32_t kModelFileHeaderBytes = 48;
inline constexpr std::uint32_t kModelFileMaxClasses = 256;
inline constexpr std::uint32_t kModelFileMaxEpochs = 1000000;  // train --epochs' upper bound
inline constexpr float kModelFilePixelScale = 1.0f / 255.0f;

struct ModelFile {
  Model model;                         // head, C, D = rows * cols, weights (C, D), bias (C)
  std::uint32_t rows = 0;              // input image shape
  std::uint32_t cols = 0;
  std::uint32_t epochs_done = 0;
  std::uint64_t seed = 0;
  std::string settings_json;           // free-form, written and read back byte for byte
  std::vector<float> optimizer_state;  // empty, or (C*D + C): weight velocity then bias velocity
  std::vector<std::int64_t> class_labels;  // empty (version 1: the labels 0..C-1), or (C) strictly ascending
  // What the training inputs were multiplied by: 1/255 for pixels and uint8 features, 1 for float features
  // (version 2 only). Exports tell their clients to scale raw inputs by it.
  float pixel_scale = kModelFilePixelScale;
  FeatureScaler scaler;  // empty, or (version 3, with class labels) the standardisation of the D inputs

  // The data label of class c: class_labels[c], or c when the file has none.
  std::int64_t label_of(int c) const { return class_labels.empty() ? c : class_labels[static_cast<std::size_t>(c)]; }
};

// Writes `file` to `path` atomically: a temporary file path + ".tmp.XXXXXX" in the same directory,
// written, fsync'ed, closed and renamed over `path`. On any failure (missing or read-only directory,
// disk full) the temporary file is removed, whatever was at `path` is left untouched, and a
// ResourceError names `path` and the reason. Nothing is written when `file` is inconsistent
// (std::invalid_argument: sizes, rows * cols != D, C out of [1, 256], class_labels not empty or C ascending
// values, a scaler without class labels or not of D means and D scales) or holds a non-finite weight,
// bias or optimizer value, or a scaler mean or scale that is not finite (scales also > 0) (DivergedError): the
// reader would reject such a file.
void save_model_file(const std::string& path, const ModelFile& file);

// Reads and validates a model file: magic, version, header size, every size against the file length
// (nothing is allocated from an unchecked size), the CRC, loss head, C, pixel scale, finite weights and
// bias, the scaler's count, finite means and finite positive scales, no trailing bytes. DataError naming
// `path` and the field with its byte offset.
ModelFile load_model_file(const std::string& path);

}  // namespace logreg
