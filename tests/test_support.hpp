// Shared test helpers: the one tolerance comparison (|ref - x| <= atol + rtol*|ref|, non-finite fails,
// worst element reported), reading files, temporary directories, small generated IDX data sets, random parameters and the
// shapes of the full-batch objective tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/dataset.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/idx.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"

namespace logreg::test {

// Passes when every |ref[i] - x[i]| <= atol + rtol * |ref[i]| and every x[i] is finite.
template <class R, class X>
::testing::AssertionResult AllClose(const R* ref, const X* x, std::size_t n, double atol, double rtol) {
  std::size_t worst = 0;
  double worst_excess = -1.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r = static_cast<double>(ref[i]);
    const double v = static_cast<double>(x[i]);
    if (!std::isfinite(v) || !std::isfinite(r)) {
      return ::testing::AssertionFailure() << "non-finite value at index " << i << ": ref=" << r << " x=" << v;
    }
    const double excess = std::fabs(r - v) - (atol + rtol * std::fabs(r));
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (n > 0 && worst_excess > 0.0) {
    std::ostringstream os;
    os.precision(9);
    os << "worst element " << worst << " of " << n << ": ref=" << static_cast<double>(ref[worst])
       << " x=" << static_cast<double>(x[worst]) << " (tolerance " << atol << " + " << rtol << "*|ref|)";
    return ::testing::AssertionFailure() << os.str();
  }
  return ::testing::AssertionSuccess();
}

template <class R, class X>
::testing::AssertionResult AllClose(const std::vector<R>& ref, const std::vector<X>& x, double atol, double rtol) {
  if (ref.size() != x.size()) {
    return ::testing::AssertionFailure() << "size " << x.size() << " != reference size " << ref.size();
  }
  return AllClose(ref.data(), x.data(), ref.size(), atol, rtol);
}

// ||ref - x||_2 / ||ref||_2
template <class R, class X>
double RelativeL2(const std::vector<R>& ref, const std::vector<X>& x) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(ref[i]) - static_cast<double>(x[i]);
    num += d * d;
    den += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "logreg_test_XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Passes when f() throws an E whose what() contains every one of `words`.
template <class E, class F>
::testing::AssertionResult ThrowsWith(F&& f, const std::vector<std::string>& words) {
  try {
    f();
  } catch (const E& e) {
    const std::string what = e.what();
    for (const std::string& w : words) {
      if (what.find(w) == std::string::npos) {
        return ::testing::AssertionFailure() << "message lacks \"" << w << "\": " << what;
      }
    }
    return ::testing::AssertionSuccess() << what;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another exception type: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

// The bytes of the file at `path` ("" when it cannot be read).
inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The lines of the file at `path`, without their newlines (none when it cannot be read).
inline std::vector<std::string> FileLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The size knob of the heavy tests. LOGREG_TEST_SIZE=small (the sanitizer stage, tools/testing/test_sanitizers.sh)
// runs them on fewer rows and steps: every kernel and host path still runs, at a size that shows memory
// errors rather than one that proves convergence. Unset or "full": the sizes that check the numbers.
inline bool SmallTestSize() {
  const char* v = std::getenv("LOGREG_TEST_SIZE");
  if (v == nullptr || std::string(v).empty() || std::string(v) == "full") return false;
  if (std::string(v) == "small") return true;
  ADD_FAILURE() << "LOGREG_TEST_SIZE must be small or full, got '" << v << "'";
  return false;
}

// `full` at the full size, `small` under LOGREG_TEST_SIZE=small.
template <class T>
T TestSize(T full, T small) {
  return SmallTestSize() ? small : full;
}

// Random images (count, rows, cols) and labels < classes from a seed.
inline ImageSet RandomImages(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, std::uint64_t seed) {
  ImageSet s;
  s.count = count;
  s.rows = rows;
  s.cols = cols;
  s.pixels.resize(static_cast<std::size_t>(count) * rows * cols);
  Rng rng(seed, 99);
  for (auto& p : s.pixels) p = static_cast<std::uint8_t>(rng.below(256));
  return s;
}

// The same images as a feature file's uint8 matrix (count, rows*cols).
inline FeatureMatrix Uint8Matrix(const ImageSet& images) {
  FeatureMatrix m;
  m.rows = images.count;
  m.cols = images.dim();
  m.dtype = FeatureDtype::kUint8;
  m.dense = images.pixels;
  return m;
}

inline LabelSet RandomLabels(std::uint32_t count, int classes, std::uint64_t seed) {
  LabelSet s;
  s.labels.resize(count);
  Rng rng(seed, 98);
  for (auto& l : s.labels) l = static_cast<std::uint8_t>(rng.below(static_cast<std::uint64_t>(classes)));
  return s;
}

// A linearly separable set: class c lights up pixel block c (plus noise), so 100% is reachable.
inline void SeparableSet(std::uint32_t count, int classes, std::uint32_t side, std::uint64_t seed,
                         ImageSet* images, LabelSet* labels) {
  *images = RandomImages(count, side, side, seed);
  *labels = RandomLabels(count, classes, seed);
  const std::size_t dim = static_cast<std::size_t>(side) * side;
  const std::size_t block = dim / static_cast<std::size_t>(classes);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint8_t* img = images->pixels.data() + i * dim;
    for (std::size_t d = 0; d < dim; ++d) img[d] = static_cast<std::uint8_t>(img[d] / 8);  // noise 0..31
    const std::size_t c = labels->labels[i];
    for (std::size_t d = c * block; d < (c + 1) * block; ++d) img[d] = 255;
  }
}

// Writes a data directory with the four standard IDX file names; the training images gzipped when asked.
inline void WriteDataDir(const TempDir& dir, const ImageSet& train, const LabelSet& train_labels, const ImageSet& test,
                         const LabelSet& test_labels, bool gzip_train_images = false) {
  write_idx_images(dir.file(gzip_train_images ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte"), train,
                   gzip_train_images);
  write_idx_labels(dir.file("train-labels-idx1-ubyte"), train_labels);
  write_idx_images(dir.file("t10k-images-idx3-ubyte"), test);
  write_idx_labels(dir.file("t10k-labels-idx1-ubyte"), test_labels);
}

// WriteDataDir of SeparableSet's rows: `train_rows` training and `test_rows` test images of side x side pixels and
// `classes` classes, drawn from `seed` and seed + 1; edit_train, when given, changes the training rows first.
inline void WriteSeparableDataDir(const TempDir& dir, std::uint32_t train_rows, std::uint32_t test_rows, int classes,
                                  std::uint32_t side, std::uint64_t seed, bool gzip_train_images = false,
                                  const std::function<void(ImageSet&, LabelSet&)>& edit_train = {}) {
  ImageSet train, test;
  LabelSet train_labels, test_labels;
  SeparableSet(train_rows, classes, side, seed, &train, &train_labels);
  SeparableSet(test_rows, classes, side, seed + 1, &test, &test_labels);
  if (edit_train) edit_train(train, train_labels);
  WriteDataDir(dir, train, train_labels, test, test_labels, gzip_train_images);
}

// The data directory of the full-batch solvers' CLI tests: 400 training and 100 test rows of 28x28, 10 classes,
// SeparableSet's rows with every fifth training pixel replaced, so that the optimum is finite.
inline void WriteSolverDataDir(const TempDir& dir) {
  WriteSeparableDataDir(dir, 400, 100, 10, 28, 31, false, [](ImageSet& train, LabelSet&) {
    for (std::size_t k = 0; k < train.pixels.size(); k += 5) train.pixels[k] = static_cast<std::uint8_t>(k % 241);
  });
}

// Every SIMD level this CPU runs (baseline first), for tests that compare them.
inline std::vector<CpuSimd> SimdLevelsOfThisCpu() {
  std::vector<CpuSimd> levels = {CpuSimd::kSse2};
  if (cpu_simd_supported(CpuSimd::kAvx2)) levels.push_back(CpuSimd::kAvx2);
  if (cpu_simd_supported(CpuSimd::kAvx512)) levels.push_back(CpuSimd::kAvx512);
  return levels;
}

// A model of D inputs and C classes with every weight and bias 0 (a shape for tests to fill).
inline Model ZeroModel(int D, int C, LossHead head = LossHead::kSoftmax) {
  Model m;
  m.input_dim = D;
  m.num_classes = C;
  m.head = head;
  m.weights.assign(static_cast<std::size_t>(C) * D, 0.0f);
  m.bias.assign(static_cast<std::size_t>(C), 0.0f);
  return m;
}

// n parameters uniform in [-scale, scale), generated from `seed` (the same on every platform).
inline std::vector<double> RandomParams(std::size_t n, double scale, std::uint64_t seed) {
  Rng rng(seed, 7);
  std::vector<double> p(n);
  for (double& v : p) v = scale * (2.0 * static_cast<double>(rng.below(1u << 30)) / (1u << 30) - 1.0);
  return p;
}

// The largest |v_i| (0 for an empty v): the scale of a vector whose components are sums of terms of either sign.
inline double MaxAbs(const std::vector<double>& v) {
  double m = 0.0;
  for (const double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// A shape of the full-batch objective tests: random images of height x width pixels and labels of `classes`,
// taken all in order or as a reordered subset.
struct ObjectiveProblem {
  const char* name;
  std::uint32_t rows, height, width;
  int classes;
  bool subset;  // every third row, then every fifth, backwards: a reordered subset (as a validation split leaves)

  int dim() const { return static_cast<int>(height * width); }
  std::size_t n_params() const { return static_cast<std::size_t>(classes) * static_cast<std::size_t>(dim()) + classes; }
  std::vector<std::uint32_t> row_indices() const {
    std::vector<std::uint32_t> r;
    if (!subset) {
      for (std::uint32_t i = 0; i < rows; ++i) r.push_back(i);
      return r;
    }
    for (std::uint32_t i = 0; i < rows; i += 3) r.push_back(i);
    for (std::uint32_t i = rows - 1; i < rows; i -= 5) r.push_back(i);
    return r;
  }
};

inline void PrintTo(const ObjectiveProblem& p, std::ostream* os) { *os << p.name; }

// 28x28 like MNIST (no padding of the pixels, 10 classes: one class block); 5x7 = 35 pixels (padded to 40) and 3
// classes; 5x5 with 23 classes (three class blocks); fewer rows than the 8 parts; a row count past a tile.
inline const ObjectiveProblem kObjectiveProblems[] = {
    {"mnist_shape", 700, 28, 28, 10, false},     {"mnist_shape_subset", 700, 28, 28, 10, true},
    {"padded_pixels", 301, 5, 7, 3, false},      {"many_classes", 257, 5, 5, 23, true},
    {"fewer_rows_than_parts", 5, 4, 4, 4, false}, {"one_tile_and_one_row", 17, 3, 3, 2, false},
};

}  // namespace logreg::test
