// Finding and loading a train/test data set: --data DIR, DIR/{MNIST,FashionMNIST,KMNIST}/raw (torchvision),
// ./data, then Debian's Fashion-MNIST, whole or an MPI rank's share of it. Checks that images and labels agree.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "logreg/dataset.hpp"
#include "logreg/idx.hpp"

namespace logreg {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct DataFiles {
  std::string name;  // e.g. "MNIST" / "Fashion-MNIST" / the directory
  std::string dir;
  std::string train_images, train_labels, test_images, test_labels;  // full paths
  bool chosen_by_default = false;  // no --data: ./data or Debian's Fashion-MNIST was picked
};

// "Fashion-MNIST", "KMNIST", "MNIST" or the directory itself, judged from the directory's last two path
// components (so /home/x/fashion-mnist and root/FashionMNIST/raw are recognised, while a checkout under
// /home/fashion-team/ is not taken for Fashion-MNIST).
std::string data_set_name(const std::string& dir);

// Files of the four standard names (train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz) in `dir` or in torchvision's
// `dir`/MNIST/raw, `dir`/FashionMNIST/raw, `dir`/KMNIST/raw. Returns nullopt when no place has all four;
// DataError naming both files when a name is there both raw and .gz (either could be meant).
std::optional<DataFiles> find_data_files(const std::string& dir);

// --data DIR given: its files or a DataError naming DIR and the missing names.
// A place with some but not all four files is a DataError naming the missing ones (never a fall-back).
// Not given: ./data, then kFashionMnistDir; `note` receives one line saying what was chosen and how to
// get MNIST (tools/setup/fetch_mnist.sh DIR). Throws DataError when nothing is found.
DataFiles locate_data(const std::optional<std::string>& dir, std::string* note);

// Loads and cross-checks the four files (image/label counts agree, image shapes agree, test labels
// < number of classes seen in training).
Dataset load_dataset(const DataFiles& files, const IdxLimits& limits = {});

// What one MPI rank of a full-batch fit loads (ranks.hpp): the training labels whole (one byte a row), of the
// training images only the rows `train_rows` asks for (load_idx_image_rows; their sample rows' pixels into
// `sample_pixels`), and the test files only when `test_set` (rank 0, which prints the evaluation); without them
// the test set is empty, with the training images' shape.
struct DatasetShare {
  std::function<ImageRowRequest(std::uint32_t count)> train_rows;
  bool test_set = true;
};
// load_dataset of a share, with the same checks (those of the test set when it is loaded).
Dataset load_dataset_share(const DataFiles& files, const DatasetShare& share, std::vector<std::uint8_t>* sample_pixels,
                           const IdxLimits& limits = {});

}  // namespace logreg
