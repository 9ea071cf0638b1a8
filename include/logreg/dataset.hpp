// In-memory IDX data: images as uint8 (count, rows*cols) row-major, labels as uint8, and the four
// files of a train/test data set. Parsing and discovery live in src/data/; nothing here does I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace logreg {

struct ImageSet {
  std::string path;  // the file it came from ("" when generated)
  std::uint32_t count = 0;
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  std::vector<std::uint8_t> pixels;  // (count, rows*cols) row-major

  std::size_t dim() const { return static_cast<std::size_t>(rows) * cols; }
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * dim(); }
};

struct LabelSet {
  std::string path;
  std::vector<std::uint8_t> labels;  // (count)

  std::size_t count() const { return labels.size(); }
};

struct Dataset {
  std::string name;  // "MNIST", "Fashion-MNIST" or the directory
  std::string dir;   // where the four files were found
  ImageSet train_images;
  LabelSet train_labels;
  ImageSet test_images;
  LabelSet test_labels;
  int num_classes = 0;  // max label over train and test + 1
};

}  // namespace logreg
