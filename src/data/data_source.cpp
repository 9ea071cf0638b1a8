// Data-set discovery and loading (include/logreg/data_source.hpp): the four standard IDX names, raw or
// .gz, in DIR or DIR/MNIST/raw; the --data / ./data / Debian Fashion-MNIST fallback; and the cross-checks
// between images and labels. Parsing of single files is in idx.cpp.
#include "logreg/data_source.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace logreg {
namespace {

namespace fs = std::filesystem;

// torchvision's layouts: ROOT/MNIST/raw, ROOT/FashionMNIST/raw, ROOT/KMNIST/raw.
constexpr std::array<const char*, 3> kTorchvisionLayouts = {"MNIST", "FashionMNIST", "KMNIST"};
constexpr std::array<const char*, 4> kStandardNames = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

// Present: anything but a directory (a FIFO or device counts, so that loading it names it, instead of
// the file being reported missing or silently skipped).
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec) && !fs::is_directory(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The path of `name` in `dir`, raw or .gz; "" when neither exists. Both is a DataError naming the two files:
// which one is meant cannot be told (a stale decompressed copy, a newer download), so neither is picked.
std::string find_one(const fs::path& dir, const std::string& name) {
  const bool raw = is_file(dir / name), gz = is_file(dir / (name + ".gz"));
  if (raw && gz) {
    throw DataError("", "ambiguous data files: " + (dir / name).string() + " and " + (dir / (name + ".gz")).string() +
                            " are both there, and either could be meant; remove or move one of them");
  }
  if (raw) return (dir / name).string();
  if (gz) return (dir / (name + ".gz")).string();
  return "";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string data_set_name(const std::string& dir) {
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::path(dir), ec);
  if (ec) resolved = fs::path(dir);
  if (!resolved.has_filename()) resolved = resolved.parent_path();  // trailing '/'
  const std::string base = lower(resolved.filename().string());
  const std::string tail = lower(resolved.parent_path().filename().string()) + "/" + base;
  if (tail.find("fashion") != std::string::npos) return "Fashion-MNIST";
  if (tail.find("kmnist") != std::string::npos) return "KMNIST";
  if (tail.find("mnist/raw") != std::string::npos || base.find("mnist") != std::string::npos) return "MNIST";
  return dir;
}

namespace {

// The standard names missing from `dir` (each shown as NAME[.gz]).
std::vector<std::string> missing_names(const fs::path& dir) {
  std::vector<std::string> missing;
  for (const char* name : kStandardNames) {
    if (find_one(dir, name).empty()) missing.push_back(std::string(name) + "[.gz]");
  }
  return missing;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

void check_counts(const ImageSet& images, const LabelSet& labels) {
  if (images.count != labels.count()) {
    throw DataError(labels.path, "has " + std::to_string(labels.count()) + " labels but " + images.path +
                                     " has " + std::to_string(images.count) + " images; the counts must match");
  }
}

}  // namespace

namespace {

// DIR, then torchvision's DIR/MNIST/raw, DIR/FashionMNIST/raw, DIR/KMNIST/raw.
std::vector<std::string> data_places(const std::string& dir) {
  std::vector<std::string> places = {dir};
  for (const char* layout : kTorchvisionLayouts) places.push_back((fs::path(dir) / layout / "raw").string());
  return places;
}

}  // namespace

std::optional<DataFiles> find_data_files(const std::string& dir) {
  for (const std::string& p : data_places(dir)) {
    const fs::path place(p);
    if (!is_dir(place)) continue;
    DataFiles files;
    files.train_images = find_one(place, kStandardNames[0]);
    files.train_labels = find_one(place, kStandardNames[1]);
    files.test_images = find_one(place, kStandardNames[2]);
    files.test_labels = find_one(place, kStandardNames[3]);
    if (files.train_images.empty() || files.train_labels.empty() || files.test_images.empty() ||
        files.test_labels.empty()) {
      continue;
    }
    files.dir = place.string();
    files.name = data_set_name(files.dir);
    return files;
  }
  return std::nullopt;
}

namespace {

// Throws a DataError naming what is missing from whichever place under `dir` holds the most of the four
// files; returns when none of the places holds any of them.
void throw_if_partial(const std::string& dir, const std::string& label) {
  std::vector<std::string> best_missing;
  std::string best_place;
  std::vector<std::string> looked;
  for (const std::string& p : data_places(dir)) {
    looked.push_back(p);
    if (!is_dir(p)) continue;
    std::vector<std::string> missing = missing_names(p);
    if (missing.size() < kStandardNames.size() && (best_place.empty() || missing.size() < best_missing.size())) {
      best_missing = missing;
      best_place = p;
    }
  }
  if (best_place.empty()) return;
  throw DataError("", label + ": " + best_place + " has only some of the four IDX files: missing " +
                          join(best_missing, ", ") + " (looked in " + join(looked, ", ") +
                          "). For MNIST run: tools/setup/fetch_mnist.sh " + dir);
}

}  // namespace

DataFiles locate_data(const std::optional<std::string>& dir, std::string* note) {
  if (note != nullptr) note->clear();
  if (dir) {
    std::error_code ec;
    if (!fs::exists(*dir, ec)) throw DataError("", "--data " + *dir + ": no such directory");
    if (!is_dir(*dir)) throw DataError("", "--data " + *dir + ": not a directory");
    if (auto files = find_data_files(*dir)) return *files;
    throw_if_partial(*dir, "--data " + *dir);
    throw DataError("", "--data " + *dir + ": missing " + join(missing_names(*dir), ", ") + " (looked in " +
                            join(data_places(*dir), ", ") + "). For MNIST run: tools/setup/fetch_mnist.sh " + *dir);
  }
  const bool have_data_dir = is_dir("data");
  if (have_data_dir) {
    if (auto files = find_data_files("data")) {
      files->chosen_by_default = true;
      if (note != nullptr) {
        *note = "logreg_cuda: using " + files->name + " from " + files->dir + " (no --data given)";
      }
      return *files;
    }
    // Some of the files but not all: an error, never a silent fall-back to another data set.
    throw_if_partial("data", "no --data given, and ./data");
  }
  if (auto files = find_data_files(kFashionMnistDir)) {
    files->chosen_by_default = true;
    if (note != nullptr) {
      *note = "logreg_cuda: using " + files->name + " from " + files->dir + " (no --data given and " +
              (have_data_dir ? "./data has no IDX files" : "there is no ./data") +
              "). For MNIST run: tools/setup/fetch_mnist.sh data";
    }
    return *files;
  }
  throw DataError("", std::string("no data set found: no --data given, ./data has no IDX files and ") +
                          kFashionMnistDir +
                          " does not exist. Install Fashion-MNIST (apt install dataset-fashion-mnist), or "
                          "download MNIST with tools/setup/fetch_mnist.sh DIR and pass --data DIR");
}

namespace {

// The four files, each error as if they were read one after the other (training images, training labels,
// test images, test labels). The training images are most of the bytes (gunzip is most of the start-up
// time), so when all four are regular files the other three load on a second thread meanwhile; a FIFO or a
// device could block, so then they load in order.
// With a share (not null), the training images' rows it asks for and the test files only if it says so.
void load_four_files(const DataFiles& files, const IdxLimits& limits, const DatasetShare* share,
                     std::vector<std::uint8_t>* sample_pixels, Dataset& ds) {
  const bool test_set = share == nullptr || share->test_set;
  auto load_rest = [&] {
    ds.train_labels = load_idx_labels(files.train_labels, limits);
    if (!test_set) return;
    ds.test_images = load_idx_images(files.test_images, limits);
    ds.test_labels = load_idx_labels(files.test_labels, limits);
  };
  std::error_code ec;
  bool regular = true;
  for (const std::string* f : {&files.train_images, &files.train_labels, &files.test_images, &files.test_labels}) {
    regular = regular && fs::is_regular_file(*f, ec);
  }
  std::exception_ptr rest_error;
  std::thread rest;
  if (regular) {
    try {
      rest = std::thread([&] {
        try {
          load_rest();
        } catch (...) {
          rest_error = std::current_exception();
        }
      });
    } catch (const std::system_error&) {  // no thread to be had: load them in order below
    }
  }
  std::exception_ptr train_error;
  try {
    ds.train_images = share == nullptr ? load_idx_images(files.train_images, limits)
                                       : load_idx_image_rows(files.train_images, share->train_rows, sample_pixels, limits);
  } catch (...) {
    train_error = std::current_exception();
  }
  if (rest.joinable()) {
    rest.join();
  } else if (train_error == nullptr) {
    load_rest();
  }
  if (train_error) std::rethrow_exception(train_error);
  if (rest_error) std::rethrow_exception(rest_error);
}

}  // namespace

namespace {

Dataset load_and_check(const DataFiles& files, const IdxLimits& limits, const DatasetShare* share,
                       std::vector<std::uint8_t>* sample_pixels) {
  Dataset ds;
  ds.name = files.name;
  ds.dir = files.dir;
  load_four_files(files, limits, share, sample_pixels, ds);
  const bool test_set = share == nullptr || share->test_set;
  if (!test_set) {  // an empty test set of the training images' shape
    ds.test_images.path = files.test_images;
    ds.test_images.rows = ds.train_images.rows;
    ds.test_images.cols = ds.train_images.cols;
    ds.test_labels.path = files.test_labels;
  }

  check_counts(ds.train_images, ds.train_labels);
  if (test_set) check_counts(ds.test_images, ds.test_labels);
  if (ds.train_images.rows != ds.test_images.rows || ds.train_images.cols != ds.test_images.cols) {
    throw DataError(files.test_images, "images are " + std::to_string(ds.test_images.rows) + "x" +
                                           std::to_string(ds.test_images.cols) + " but " + files.train_images +
                                           " has " + std::to_string(ds.train_images.rows) + "x" +
                                           std::to_string(ds.train_images.cols) + " images; the shapes must match");
  }
  if (ds.train_labels.count() == 0) throw DataError(files.train_labels, "no training samples (0 labels)");
  if (test_set && ds.test_labels.count() == 0) {
    throw DataError(files.test_labels, "the test set is empty (0 labels): nothing to evaluate on");
  }

  const std::uint8_t max_train = *std::max_element(ds.train_labels.labels.begin(), ds.train_labels.labels.end());
  ds.num_classes = static_cast<int>(max_train) + 1;
  // Classes are 0..max label, so one damaged label (say 200 among 0..9) would silently make 201
  // classes: every class must have training samples.
  std::vector<std::size_t> per_class(static_cast<std::size_t>(ds.num_classes), 0);
  for (const std::uint8_t label : ds.train_labels.labels) ++per_class[label];
  const auto empty = std::find(per_class.begin(), per_class.end(), std::size_t{0});
  if (empty != per_class.end()) {
    const auto missing = std::count(per_class.begin(), per_class.end(), std::size_t{0});
    const auto at = std::find(ds.train_labels.labels.begin(), ds.train_labels.labels.end(), max_train);
    throw DataError(files.train_labels,
                    "label at index " + std::to_string(at - ds.train_labels.labels.begin()) + " is " +
                        std::to_string(max_train) + ", so there would be " + std::to_string(ds.num_classes) +
                        " classes, but " + std::to_string(missing) + " of them (the first: " +
                        std::to_string(empty - per_class.begin()) +
                        ") have no training samples; labels must be 0..C-1 with every class present");
  }
  if (ds.num_classes < 2) {
    throw DataError(files.train_labels, "every training label is " + std::to_string(max_train) +
                                            ": a classifier needs at least 2 classes (labels 0 and 1 at least)");
  }
  for (std::size_t i = 0; i < ds.test_labels.count(); ++i) {
    const int label = ds.test_labels.labels[i];
    if (label >= ds.num_classes) {
      throw DataError(files.test_labels, "label at index " + std::to_string(i) + " is " + std::to_string(label) +
                                             ", but the training labels only go up to " +
                                             std::to_string(ds.num_classes - 1) + " (" +
                                             std::to_string(ds.num_classes) + " classes)");
    }
  }
  return ds;
}

}  // namespace

Dataset load_dataset(const DataFiles& files, const IdxLimits& limits) {
  return load_and_check(files, limits, nullptr, nullptr);
}

Dataset load_dataset_share(const DataFiles& files, const DatasetShare& share, std::vector<std::uint8_t>* sample_pixels,
                           const IdxLimits& limits) {
  return load_and_check(files, limits, &share, sample_pixels);
}

}  // namespace logreg
