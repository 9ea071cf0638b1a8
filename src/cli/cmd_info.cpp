// `logreg_cuda info`: what the PyTorch data tutorial prints about a data set — sample counts, the dtype
// and shape of one sample as stored and as the model sees it, the first labels, and samples per class.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"

namespace logreg::cli {
namespace {

std::vector<std::size_t> count_per_class(const LabelSet& labels, int num_classes) {
  std::vector<std::size_t> counts(static_cast<std::size_t>(num_classes), 0);
  for (std::uint8_t l : labels.labels) {
    if (l < counts.size()) ++counts[l];
  }
  return counts;
}

void run_info(const std::optional<std::string>& dir) {
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
  CLI::App* sub = app.add_subcommand("info", "Describe the data set: sample counts, shapes, labels per class");
  add_data_option(sub, dir.get());
  sub->callback([dir]() { run_info(*dir); });
}

}  // namespace logreg::cli
