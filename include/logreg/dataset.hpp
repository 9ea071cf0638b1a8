// In-memory IDX data: images as uint8 (count, rows*cols) row-major, labels as uint8, and the four
// files of a train/test data set; an image set may hold only a window of its file's rows (an MPI rank's share).
// Parsing and discovery live in src/data/; nothing here does I/O.
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
  // (count, rows*cols) row-major; for a window (load_idx_image_rows), the rows [first, first + loaded()) only.
  std::vector<std::uint8_t> pixels;
  std::uint32_t first = 0;  // the row pixels starts with: 0 unless a window

  std::size_t dim() const { return static_cast<std::size_t>(rows) * cols; }
  std::size_t loaded() const { return dim() == 0 ? 0 : pixels.size() / dim(); }  // rows in pixels
  bool holds(std::size_t i) const { return i >= first && i - first < loaded(); }
  // Row i of the file (holds(i) for a window).
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + (i - first) * dim(); }
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
