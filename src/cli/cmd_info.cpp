// `logreg_cuda info`: what the PyTorch data tutorial prints about a data set — sample counts, the dtype
// and shape of one sample as stored and as the model sees it, the first labels, and samples per class.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "logreg/errors.hpp"

namespace logreg::cli {
namespace {

std::vector<std::size_t> count_per_class(const LabelSet& labels, int num_classes) {
  std::vector<std::size_t> counts(static_cast<std::size_t>(num_classes), 0);
  for (std::uint8_t l : labels.labels) {
    if (l < counts.size()) ++counts[l];
  }
  return counts;
}

std::vector<std::size_t> count_per_class_index(const std::vector<std::uint32_t>& y, std::size_t num_classes) {
  std::vector<std::size_t> counts(num_classes, 0);
  for (const std::uint32_t c : y) ++counts[c];
  return counts;
}

std::string matrix_text(const FeatureMatrix& x) {
  char buf[160];
  if (x.sparse) {
    const double density = 100.0 * static_cast<double>(x.nonzeros()) / (static_cast<double>(x.rows) * static_cast<double>(x.cols));
    std::snprintf(buf, sizeof buf, "CSR float64 [%zu, %zu], %zu stored values (%.3g%% dense)", x.rows, x.cols,
                  x.nonzeros(), density);
  } else {
    std::snprintf(buf, sizeof buf, "dense %s [%zu, %zu]", feature_dtype_name(x.dtype), x.rows, x.cols);
  }
  return buf;
}

// --data FILE: the feature file's splits, width, storage, classes (index and label) and rows per class.
void run_feature_info(const std::string& path, const std::string& test_path) {
  const FeatureData d = load_cli_feature_data(path, test_path);
  const std::size_t C = d.classes.size();
  std::printf("%s (%s)\n", path.c_str(), d.format.c_str());
  std::printf("  training rows: %zu  (%s)\n", d.train_x.rows, matrix_text(d.train_x).c_str());
  if (d.has_test) {
    std::printf("  test rows:     %zu  (%s, %s)\n", d.test_x.rows, matrix_text(d.test_x).c_str(), d.test_path.c_str());
  } else {
    std::printf("  test rows:     none (train reports on the training rows; give --test-data FILE for a test split)\n");
  }
  std::printf("  features per row: %zu\n", d.train_x.cols);
  std::printf("  as the model sees it: float64 [%zu]%s\n", d.train_x.cols,
              !d.train_x.sparse && d.train_x.dtype == FeatureDtype::kUint8 ? ", values in [0, 1] (uint8 / 255)"
                                                                            : ", values as stored");
  std::printf("  labels of the first two training rows:");
  for (std::size_t i = 0; i < 2 && i < d.train_y.size(); ++i) std::printf(" %lld", static_cast<long long>(d.classes[d.train_y[i]]));
  std::printf("\n  classes: %zu (labels %s, in this order)\n\n", C, class_labels_text(d.classes).c_str());
  const std::vector<std::size_t> train_counts = count_per_class_index(d.train_y, C);
  const std::vector<std::size_t> test_counts = count_per_class_index(d.test_y, C);
  std::printf("  class          label    train     test\n");
  for (std::size_t c = 0; c < C; ++c) {
    std::printf("  %5zu %14lld %8zu %8zu\n", c, static_cast<long long>(d.classes[c]), train_counts[c], test_counts[c]);
  }
  std::printf("  total %14s %8zu %8zu\n", "", d.train_x.rows, d.has_test ? d.test_x.rows : 0);
}

void run_info(const std::optional<std::string>& dir, const std::string& test_data) {
  if (is_feature_file(dir)) {
    run_feature_info(*dir, test_data);
    return;
  }
  if (!test_data.empty()) throw UsageError("--test-data needs --data FILE (an .npz or svmlight file), not a directory of IDX files");
  const Dataset ds = load_cli_dataset(dir);
  const ImageSet& train = ds.train_images;
  std::printf("%s in %s\n", ds.name.c_str(), ds.dir.c_str());
  std::printf("  training samples: %u  (%s)\n", train.count, train.path.c_str());
  std::printf("  test samples:     %u  (%s)\n", ds.test_images.count, ds.test_images.path.c_str());
  std::printf("  one sample as stored:   uint8 [1, %u, %u]\n", train.rows, train.cols);
  std::printf("  as the model sees it:   float32 [1, %u, %u], values in [0, 1] (pixel / 255)\n", train.rows,
              train.cols);
  std::printf("  labels of the first two training samples:");
  for (std::size_t i = 0; i < 2 && i < ds.train_labels.count(); ++i) std::printf(" %u", ds.train_labels.labels[i]);
  std::printf("\n  classes: %d\n\n", ds.num_classes);

  const std::vector<std::size_t> train_counts = count_per_class(ds.train_labels, ds.num_classes);
  const std::vector<std::size_t> test_counts = count_per_class(ds.test_labels, ds.num_classes);
  std::printf("  class    train     test\n");
  for (int c = 0; c < ds.num_classes; ++c) {
    std::printf("  %5d %8zu %8zu\n", c, train_counts[static_cast<std::size_t>(c)],
                test_counts[static_cast<std::size_t>(c)]);
  }
  std::printf("  total %8zu %8zu\n", ds.train_labels.count(), ds.test_labels.count());
}

}  // namespace

void setup_info_command(CLI::App& app) {
  auto dir = std::make_shared<std::optional<std::string>>();
  auto test_data = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("info", "Describe the data set: sample counts, shapes, labels per class");
  add_data_option(sub, dir.get());
  add_test_data_option(sub, test_data.get());
  sub->callback([dir, test_data]() { run_info(*dir, *test_data); });
}

}  // namespace logreg::cli
