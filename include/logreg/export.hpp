// Model export: the three formats `logreg_cuda export` writes (ONNX, safetensors, NumPy .npz), their one
// name table, and the atomic file writer over the encoders of export_onnx.hpp, export_safetensors.hpp
// and export_npz.hpp. Reading models back (safetensors for eval / train --init) is in export_safetensors.hpp.
#pragma once

#include <string>

#include "logreg/model_file.hpp"

namespace logreg {

enum class ExportFormat : int { kOnnx = 0, kSafetensors = 1, kNpz = 2 };

struct ExportFormatName {
  ExportFormat format;
  const char* name;       // the --format value
  const char* extension;  // the usual file name ending, used when --format is not given
  const char* summary;    // one line for --help
};

// The one name table: the parser, --help and the messages all read it.
inline constexpr ExportFormatName kExportFormats[] = {
    {ExportFormat::kOnnx, "onnx", ".onnx",
     "ONNX (opset 13): input pixels float32 [N, D] raw 0-255 (a feature model: features, standardised in the graph "
     "when trained with --standardize), outputs logits and probabilities (and a feature model's label)"},
    {ExportFormat::kSafetensors, "safetensors", ".safetensors",
     "PyTorch nn.Linear state_dict, weight [C, D] and bias [C] float32; the user scales pixels by 1/255 (a feature "
     "model adds classes [C] int64, and mean and scale [D] float64 when standardised)"},
    {ExportFormat::kNpz, "npz", ".npz",
     "NumPy arrays coef_, intercept_, classes_ for scikit-learn's LogisticRegression, scale (1/255 or 1), and "
     "StandardScaler's mean_ and scale_ when standardised"},
};

const char* export_format_name(ExportFormat format);
bool parse_export_format(const std::string& name, ExportFormat* out);
// The format whose extension `path` ends with; false when none does.
bool export_format_of_path(const std::string& path, ExportFormat* out);
// "onnx, safetensors or npz"
std::string export_format_list();

// The file contents of `mf` in `format` (export_onnx.hpp, export_safetensors.hpp, export_npz.hpp).
// std::invalid_argument when `mf` is inconsistent (sizes, rows * cols != D).
std::string export_model_bytes(const ModelFile& mf, ExportFormat format);

// Writes export_model_bytes to `path` atomically (write_whole_file_atomically): ResourceError naming
// `path` when it cannot be written; whatever was there is left untouched.
void export_model(const ModelFile& mf, ExportFormat format, const std::string& path);

}  // namespace logreg
