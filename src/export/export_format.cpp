// The export format table's lookups (include/logreg/export.hpp), the consistency check every encoder
// runs first, and the dispatcher plus atomic writer of `logreg_cuda export`. The encoders are in
// onnx_export.cpp, safetensors_file.cpp and npz_export.cpp.
#include "logreg/export.hpp"

#include <stdexcept>
#include <string>

#include "export_check.hpp"
#include "logreg/export_npz.hpp"
#include "logreg/export_onnx.hpp"
#include "logreg/export_safetensors.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {

const char* export_format_name(ExportFormat format) {
  for (const ExportFormatName& f : kExportFormats) {
    if (f.format == format) return f.name;
  }
  return "unknown";
}

bool parse_export_format(const std::string& name, ExportFormat* out) {
  for (const ExportFormatName& f : kExportFormats) {
    if (name == f.name) {
      *out = f.format;
      return true;
    }
  }
  return false;
}

bool export_format_of_path(const std::string& path, ExportFormat* out) {
  for (const ExportFormatName& f : kExportFormats) {
    const std::string ext = f.extension;
    if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0) {
      *out = f.format;
      return true;
    }
  }
  return false;
}

std::string export_format_list() {
  std::string s;
  const std::size_t n = sizeof kExportFormats / sizeof kExportFormats[0];
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) s += i + 1 == n ? " or " : ", ";
    s += kExportFormats[i].name;
  }
  return s;
}

std::string export_model_bytes(const ModelFile& mf, ExportFormat format) {
  switch (format) {
    case ExportFormat::kOnnx: return onnx_model_bytes(mf);
    case ExportFormat::kSafetensors: return safetensors_model_bytes(mf);
    case ExportFormat::kNpz: return npz_model_bytes(mf);
  }
  throw std::invalid_argument("export: unknown format " + std::to_string(static_cast<int>(format)));
}

void export_model(const ModelFile& mf, ExportFormat format, const std::string& path) {
  write_whole_file_atomically(path, export_model_bytes(mf, format));
}

namespace export_detail {

void check_exportable(const ModelFile& mf) {
  const Model& m = mf.model;
  const std::size_t C = static_cast<std::size_t>(m.num_classes > 0 ? m.num_classes : 0);
  const std::size_t D = static_cast<std::size_t>(m.input_dim > 0 ? m.input_dim : 0);
  if (C == 0 || D == 0) throw std::invalid_argument("export: the model has no classes or no inputs");
  if (static_cast<std::uint64_t>(mf.rows) * mf.cols != D) {
    throw std::invalid_argument("export: image shape " + std::to_string(mf.rows) + "x" + std::to_string(mf.cols) +
                                " does not match the model's " + std::to_string(D) + " inputs");
  }
  if (m.weights.size() != C * D || m.bias.size() != C) {
    throw std::invalid_argument("export: the model holds " + std::to_string(m.weights.size()) + " weights and " +
                                std::to_string(m.bias.size()) + " biases, expected " + std::to_string(C * D) +
                                " and " + std::to_string(C));
  }
}

}  // namespace export_detail
}  // namespace logreg
