// `logreg_cuda show`: draws one sample of the train or test split in the terminal with its label, and
// with --out writes it as a PNG. Drawing and PNG encoding are in src/data/image_render.cpp.
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "option_values.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/data_source.hpp"
#include "logreg/errors.hpp"
#include "logreg/image_render.hpp"

namespace logreg::cli {
namespace {

struct ShowOptions {
  std::optional<std::string> data;
  std::string split = "train";
  std::int64_t index = 0;
  std::string out;
  int scale = 8;
};

void run_show(const ShowOptions& o) {
  if (is_feature_file(o.data)) {
    throw UsageError("show draws images of an IDX data set; --data " + *o.data + " is a file (an .npz or svmlight "
                     "feature file): describe it with info --data " + *o.data);
  }
  if (!o.out.empty()) check_output_target("--out", o.out);
  std::string note;
  const DataFiles files = locate_data(o.data, &note);
  if (!note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
  check_distinct_files({{"--data file", files.train_images, false},
                        {"--data file", files.train_labels, false},
                        {"--data file", files.test_images, false},
                        {"--data file", files.test_labels, false},
                        {"--out", o.out, true}});
  const Dataset ds = load_dataset(files, cli_idx_limits());
  const bool train = o.split == "train";
  const ImageSet& images = train ? ds.train_images : ds.test_images;
  const LabelSet& labels = train ? ds.train_labels : ds.test_labels;
  if (o.index < 0 || static_cast<std::uint64_t>(o.index) >= images.count) {
    throw UsageError("--index " + std::to_string(o.index) + " is out of range: the " + o.split + " split has " +
                     std::to_string(images.count) + " samples (valid: 0 to " +
                     std::to_string(static_cast<std::int64_t>(images.count) - 1) + ")");
  }
  const std::size_t index = static_cast<std::size_t>(o.index);
  if (!o.out.empty()) write_png_gray(o.out, images, index, o.scale);  // fails before anything is printed
  std::printf("%s %s sample %zu of %u: label %u (of %d classes)\n", ds.name.c_str(), o.split.c_str(), index,
              images.count, labels.labels[index], ds.num_classes);
  std::fputs(render_terminal(images, index).c_str(), stdout);
  if (!o.out.empty()) {
    std::printf("wrote %s (%ux%u pixels, scale %d)\n", o.out.c_str(), images.cols * static_cast<unsigned>(o.scale),
                images.rows * static_cast<unsigned>(o.scale), o.scale);
  }
}

}  // namespace

void setup_show_command(CLI::App& app) {
  auto opts = std::make_shared<ShowOptions>();
  CLI::App* sub = app.add_subcommand("show", "Draw one sample in the terminal (and optionally save it as a PNG)");
  add_data_option(sub, &opts->data);
  sub->add_option("--split", opts->split, "Which split to take the sample from")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  sub->add_option("--index", opts->index, "Sample index within the split")
      ->transform(integer_in(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()))
      ->capture_default_str();
  sub->add_option("--out", opts->out, "Also write the sample as an 8-bit greyscale PNG to this file");
  sub->add_option("--scale", opts->scale, "PNG pixels per image pixel (nearest neighbour)")
      ->transform(integer_in(1, 64))
      ->capture_default_str();
  sub->callback([opts, sub]() {
    if (sub->count("--scale") > 0 && opts->out.empty()) {
      throw UsageError("--scale applies to the PNG that --out writes; without --out it does nothing");
    }
    run_show(*opts);
  });
}

}  // namespace logreg::cli
