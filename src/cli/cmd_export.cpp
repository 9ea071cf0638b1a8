// `logreg_cuda export`: converts a saved model (.lrm, or a safetensors nn.Linear) to ONNX, safetensors
// or NumPy .npz for use outside logreg_cuda (include/logreg/export.hpp), with a feature model's class labels
// and scaler. Writes atomically; trains and evaluates nothing.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/errors.hpp"
#include "logreg/export.hpp"
#include "logreg/export_safetensors.hpp"

namespace logreg::cli {
namespace {

struct ExportOptions {
  std::string model;
  std::string format;  // empty: from --out's extension
  std::string out;
};

ExportFormat resolve_format(const ExportOptions& o) {
  ExportFormat f{};
  if (!o.format.empty()) {
    if (!parse_export_format(o.format, &f)) {
      throw UsageError("--format: unknown format '" + o.format + "' (expected " + export_format_list() + ")");
    }
    return f;
  }
  if (!export_format_of_path(o.out, &f)) {
    throw UsageError("--format: not given, and --out " + o.out + " does not end in .onnx, .safetensors or .npz; give " +
                     export_format_list());
  }
  return f;
}

void run_export(const ExportOptions& o) {
  const ExportFormat format = resolve_format(o);
  check_output_target("--out", o.out);  // before any work: a special file, a missing directory, a long name
  require_regular_input(o.model, "--model");
  check_distinct_files({{"--model", o.model, false}, {"--out", o.out, true}});
  const ModelFile mf = load_any_model_file(o.model);
  try {
    export_model(mf, format, o.out);
  } catch (const ResourceError& e) {
    throw ResourceError("--out " + o.out + ": " + e.what());
  }
  std::printf("Exported %s (Linear(%d -> %d), loss %s, %u epochs) to %s as %s\n", o.model.c_str(), mf.model.input_dim,
              mf.model.num_classes, loss_head_name(mf.model.head), mf.epochs_done, o.out.c_str(),
              export_format_name(format));
}

}  // namespace

void setup_export_command(CLI::App& app) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* sub = app.add_subcommand(
      "export", "Export a saved model to ONNX, safetensors (PyTorch nn.Linear) or NumPy .npz (scikit-learn)");
  sub->add_option("--model", opts->model, "Saved model: a .lrm file, or a safetensors nn.Linear state_dict")->required();
  std::string help = "Output format (default: from --out's extension):";
  for (const ExportFormatName& f : kExportFormats) help += std::string("\n  ") + f.name + ": " + f.summary;
  sub->add_option("--format", opts->format, help);
  sub->add_option("--out", opts->out, "Output file, written atomically (complete or not at all)")->required();
  sub->callback([opts]() { run_export(*opts); });
}

}  // namespace logreg::cli
