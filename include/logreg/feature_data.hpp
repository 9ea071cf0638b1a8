// In-memory feature matrices for `--data FILE` (a NumPy .npz or an svmlight/libsvm text file): dense rows of
// uint8, float32 or float64 of any width, or CSR rows; labels mapped to class indices, the original label
// values kept (scikit-learn's classes_). The readers are in npz_reader.hpp and svmlight_reader.hpp; the IDX
// image sets of dataset.hpp are a separate type and path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "logreg/idx.hpp"

namespace logreg {

enum class FeatureDtype : std::uint8_t { kUint8, kFloat32, kFloat64 };

// "uint8", "float32", "float64": for messages and `info`.
const char* feature_dtype_name(FeatureDtype t);

// An (rows, cols) matrix, dense or CSR. Dense values are kept as stored (uint8 is scaled by 1/255 when a row
// is read, as IDX pixels are); CSR values are float64.
struct FeatureMatrix {
  std::string path;  // the file it came from
  std::size_t rows = 0;
  std::size_t cols = 0;  // D, >= 1
  bool sparse = false;
  FeatureDtype dtype = FeatureDtype::kFloat64;  // dense: the element type of `dense`; CSR: kFloat64

  std::vector<std::uint8_t> dense;       // dense: (rows, cols) row-major, elements of dtype, host byte order
  std::vector<std::uint64_t> row_start;  // CSR: (rows + 1), row i holds entries [row_start[i], row_start[i+1])
  std::vector<std::uint32_t> col_index;  // CSR: (nnz) strictly increasing within a row, each < cols
  std::vector<double> values;            // CSR: (nnz)
  // A dense matrix may hold a window of its rows (an MPI rank's rows: FeatureRowWindow): rows
  // [first, first + loaded_rows()) of `rows`, `dense` starting at row `first`. Row indices stay global.
  std::size_t first = 0;
  std::uint32_t source_crc32 = 0;  // .npz: the zip's CRC-32 of the member it came from (every row); else 0

  // The rows in memory: all `rows` unless a window was loaded.
  std::size_t loaded_rows() const;
  bool holds_all_rows() const { return first == 0 && loaded_rows() == rows; }

  std::size_t nonzeros() const { return sparse ? values.size() : rows * cols; }
  // The rows' stored values in dense rows of cols (rows for a dense matrix): what one pass over them costs.
  double dense_rows() const { return cols > 0 ? static_cast<double>(nonzeros()) / static_cast<double>(cols) : 0.0; }
  // Row i (first <= i < first + loaded_rows()) as the model sees it, into x (cols): uint8 / 255, floats as
  // stored, CSR zeros filled in.
  void row_to_double(std::size_t i, double* x) const;
  // Rows `picked` (each held, in the order given, repeats allowed) as a matrix of their own: the same path,
  // dtype and layout, the values copied as stored (a --cv fold's rows, the rows --limit-train keeps, the rows
  // --val-split holds out, an SGD batch over MPI ranks).
  FeatureMatrix copy_rows(const std::vector<std::uint32_t>& picked) const;
};

// Labels as class indices into `classes` (sorted ascending, the distinct training labels).
struct FeatureData {
  std::string train_path;  // --data
  std::string test_path;   // the test split's file ("" when there is none)
  FeatureMatrix train_x;
  std::vector<std::uint32_t> train_y;  // (train_x.rows) class index
  std::vector<double> train_w;         // (train_x.rows) an .npz's w_train sample weights; empty when it has none
  bool has_test = false;
  FeatureMatrix test_x;
  std::vector<std::uint32_t> test_y;   // (test_x.rows)
  std::vector<std::int64_t> classes;   // (C) the label of each class, ascending
  std::string format;                  // "npz" or "svmlight"
  bool zero_based = true;              // svmlight: the indices were read as 0-based (else 1-based)
};

// Raw labels of one split as they were read.
struct RawLabels {
  std::string path;
  std::vector<std::int64_t> values;
};

// The formats `--data FILE` takes: .npz (by its zip magic), else svmlight text.
enum class FeatureFormat { kNpz, kSvmlight };
FeatureFormat feature_format_of(const std::string& path);

// Most classes a model may have (the model file's limit).
inline constexpr std::size_t kFeatureMaxClasses = 256;

// Maps the training labels to sorted classes and the test labels onto them. DataError naming the file when the
// training labels hold fewer than 2 or more than kFeatureMaxClasses distinct values, or a test label is not
// one of the training labels (index and value named).
void map_labels(const RawLabels& train, const RawLabels* test, FeatureData& out);

// The rows of the training features a caller keeps: window(rows) gives [first, last) of the file's rows (an
// MPI rank's parts: cmd_train_features.cpp). Empty: every row.
using FeatureRowWindow = std::function<std::pair<std::size_t, std::size_t>(std::size_t rows)>;

// Reads `--data FILE` (and `--test-data FILE` when not empty): the format from the first file's bytes, every
// size checked against limits.max_bytes before it is allocated. An .npz holds x_train/y_train (or
// X_train/y_train), optionally x_test/y_test and w_train (sample weights, fit_weights.hpp's checks); svmlight holds one split, the test split comes from
// test_path. The widths of the two splits must agree (svmlight: the wider one is used for both). DataError
// naming the file, the field or byte offset, and what was expected.
// With a `window`, an .npz's x_train keeps only the window's rows (npz_reader.hpp's NpzRows); its labels, weights
// and test split are read whole. svmlight files are read whole (their CSR objective sums every row's entries
// column by column).
FeatureData load_feature_data(const std::string& path, const std::string& test_path, const IdxLimits& limits = {},
                              const FeatureRowWindow& window = {});

// The rows of `path` for `eval`/`predict` on a model of width D and classes `classes`: the test split when the
// file has one (an .npz's x_test), else its only split; labels mapped onto `classes` (DataError when a label
// is not one of them, or the width is not D; svmlight rows narrower than D are widened with zeros). svmlight:
// `zero_based` is the training file's index base when the model records it, else judged from this file.
struct LabelledFeatures {
  FeatureMatrix x;
  std::vector<std::uint32_t> y;
  std::string split;  // "test" or "train" (the npz arrays read), "all" (svmlight)
};
LabelledFeatures load_features_for_model(const std::string& path, std::size_t D, const std::vector<std::int64_t>& classes,
                                         const IdxLimits& limits = {}, std::optional<bool> zero_based = std::nullopt);

}  // namespace logreg
