// Feature data for `--data FILE` (include/logreg/feature_data.hpp): the format from the file's first bytes, the
// .npz arrays turned into dense matrices (x: 2-D or more, trailing dimensions flattened; y: 1-D integers; w_train:
// sample weights, fit_weights.hpp) and svmlight rows into CSR, the labels mapped to sorted classes. The
// byte-level readers are npz_reader.cpp and svmlight_reader.cpp.
#include "logreg/feature_data.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "logreg/errors.hpp"
#include "logreg/fit_weights.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/npz_reader.hpp"
#include "logreg/svmlight_reader.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {

const char* feature_dtype_name(FeatureDtype t) {
  switch (t) {
    case FeatureDtype::kUint8: return "uint8";
    case FeatureDtype::kFloat32: return "float32";
    case FeatureDtype::kFloat64: return "float64";
  }
  return "?";
}

std::size_t FeatureMatrix::loaded_rows() const {
  if (sparse) return row_start.empty() ? 0 : row_start.size() - 1;
  const std::size_t row_bytes = cols * (dtype == FeatureDtype::kUint8 ? 1 : dtype == FeatureDtype::kFloat32 ? 4 : 8);
  return row_bytes == 0 ? 0 : dense.size() / row_bytes;
}

void FeatureMatrix::row_to_double(std::size_t i, double* x) const {
  i -= first;
  if (sparse) {
    std::fill(x, x + cols, 0.0);
    for (std::uint64_t k = row_start[i]; k < row_start[i + 1]; ++k) x[col_index[k]] = values[k];
    return;
  }
  switch (dtype) {
    case FeatureDtype::kUint8: {
      const std::uint8_t* p = dense.data() + i * cols;
      for (std::size_t d = 0; d < cols; ++d) x[d] = pixel_to_unit<double>(p[d]);
      return;
    }
    case FeatureDtype::kFloat32: {
      const std::uint8_t* p = dense.data() + i * cols * 4;
      for (std::size_t d = 0; d < cols; ++d) {
        float v;
        std::memcpy(&v, p + 4 * d, 4);
        x[d] = static_cast<double>(v);
      }
      return;
    }
    case FeatureDtype::kFloat64:
      std::memcpy(x, dense.data() + i * cols * 8, cols * 8);
      return;
  }
}

FeatureMatrix FeatureMatrix::copy_rows(const std::vector<std::uint32_t>& picked) const {
  FeatureMatrix out;
  out.path = path;
  out.source_crc32 = source_crc32;
  out.rows = picked.size();
  out.cols = cols;
  out.sparse = sparse;
  out.dtype = dtype;
  if (!sparse) {
    const std::size_t held = loaded_rows(), row_bytes = held == 0 ? 0 : dense.size() / held;
    out.dense.resize(picked.size() * row_bytes);
    for (std::size_t i = 0; i < picked.size(); ++i) {
      std::memcpy(out.dense.data() + i * row_bytes, dense.data() + (picked[i] - first) * row_bytes, row_bytes);
    }
    return out;
  }
  out.row_start.reserve(picked.size() + 1);
  out.row_start.push_back(0);
  for (const std::uint32_t r : picked) {
    out.col_index.insert(out.col_index.end(), col_index.begin() + static_cast<std::ptrdiff_t>(row_start[r]),
                         col_index.begin() + static_cast<std::ptrdiff_t>(row_start[r + 1]));
    out.values.insert(out.values.end(), values.begin() + static_cast<std::ptrdiff_t>(row_start[r]),
                      values.begin() + static_cast<std::ptrdiff_t>(row_start[r + 1]));
    out.row_start.push_back(out.values.size());
  }
  return out;
}

FeatureFormat feature_format_of(const std::string& path) {
  std::uint64_t file_bytes = 0;
  const std::vector<std::uint8_t> head = read_file_prefix(path, 4, &file_bytes);
  const bool zip = head.size() == 4 && head[0] == 'P' && head[1] == 'K' &&
                   ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6));
  return zip ? FeatureFormat::kNpz : FeatureFormat::kSvmlight;
}

void map_labels(const RawLabels& train, const RawLabels* test, FeatureData& out) {
  std::vector<std::int64_t> classes = train.values;
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (classes.size() < 2) {
    throw DataError(train.path, "every training label is " +
                                    (classes.empty() ? std::string("missing") : std::to_string(classes[0])) +
                                    ": a classifier needs at least 2 distinct labels");
  }
  if (classes.size() > kFeatureMaxClasses) {
    throw DataError(train.path, "the training labels hold " + std::to_string(classes.size()) +
                                    " distinct values; expected at most " + std::to_string(kFeatureMaxClasses) +
                                    " classes");
  }
  auto index_of = [&](const RawLabels& labels, std::vector<std::uint32_t>* y) {
    y->resize(labels.values.size());
    for (std::size_t i = 0; i < labels.values.size(); ++i) {
      const auto it = std::lower_bound(classes.begin(), classes.end(), labels.values[i]);
      if (it == classes.end() || *it != labels.values[i]) {
        throw DataError(labels.path, "label at row " + std::to_string(i) + " is " + std::to_string(labels.values[i]) +
                                         ", which is not one of the " + std::to_string(classes.size()) +
                                         " training labels (" + std::to_string(classes.front()) + " .. " +
                                         std::to_string(classes.back()) + ")");
      }
      (*y)[i] = static_cast<std::uint32_t>(it - classes.begin());
    }
  };
  index_of(train, &out.train_y);
  if (test != nullptr) index_of(*test, &out.test_y);
  out.classes = std::move(classes);
}

namespace {

NpyArray* find_array(std::vector<NpyArray>& arrays, const std::string& path, std::initializer_list<const char*> names) {
  NpyArray* found = nullptr;
  for (NpyArray& a : arrays) {
    for (const char* n : names) {
      if (a.member != std::string(n) + ".npy") continue;
      if (found != nullptr) {
        throw DataError(path, "holds both " + found->member + " and " + a.member + "; either could be meant");
      }
      found = &a;
    }
  }
  return found;
}

FeatureMatrix dense_of(NpyArray&& a, const std::string& path) {
  const std::string where = path + ": " + a.member;
  if (a.shape.size() < 2) {
    throw DataError(where, "shape: expected 2 or more dimensions (rows, features...), found " +
                               std::to_string(a.shape.size()));
  }
  FeatureMatrix m;
  m.path = path;
  m.rows = static_cast<std::size_t>(a.shape[0]);
  std::uint64_t cols = 1;
  for (std::size_t k = 1; k < a.shape.size(); ++k) cols *= a.shape[k];
  if (m.rows == 0) throw DataError(where, "shape: expected at least 1 row, found 0");
  if (cols == 0 || cols > static_cast<std::uint64_t>(kSvmlightMaxIndex)) {
    throw DataError(where, "shape: expected 1 to " + std::to_string(kSvmlightMaxIndex) +
                               " features per row, found " + std::to_string(cols));
  }
  m.cols = static_cast<std::size_t>(cols);
  if (a.kind == 'u' && a.itemsize == 1) {
    m.dtype = FeatureDtype::kUint8;
  } else if (a.kind == 'f') {
    m.dtype = a.itemsize == 4 ? FeatureDtype::kFloat32 : FeatureDtype::kFloat64;
  } else {
    throw DataError(where, "dtype: expected uint8, float32 or float64 features, found '" + a.descr() + "'");
  }
  m.dense = std::move(a.data);
  m.first = static_cast<std::size_t>(a.first_row);
  m.source_crc32 = a.crc32;
  if (m.dtype != FeatureDtype::kUint8) {
    std::vector<double> row(m.cols);
    for (std::size_t i = m.first; i < m.first + m.loaded_rows(); ++i) {
      m.row_to_double(i, row.data());
      for (std::size_t d = 0; d < m.cols; ++d) {
        if (!std::isfinite(row[d])) {
          throw DataError(where, "row " + std::to_string(i) + ", feature " + std::to_string(d) +
                                     ": expected a finite number, found " + (std::isnan(row[d]) ? "NaN" : "infinity"));
        }
      }
    }
  }
  return m;
}

RawLabels labels_of(const NpyArray& a, const std::string& path, std::size_t rows) {
  const std::string where = path + ": " + a.member;
  if (a.shape.size() != 1 && !(a.shape.size() == 2 && a.shape[1] == 1)) {
    throw DataError(where, "shape: expected (rows,) labels, found " + std::to_string(a.shape.size()) + " dimensions");
  }
  if (a.kind != 'u' && a.kind != 'i' && a.kind != 'b') {
    throw DataError(where, "dtype: expected integer labels, found '" + a.descr() + "' (convert with y.astype(int))");
  }
  if (a.shape[0] != rows) {
    throw DataError(where, "holds " + std::to_string(a.shape[0]) + " labels but the features have " +
                               std::to_string(rows) + " rows; the counts must match");
  }
  RawLabels out;
  out.path = path;
  out.values.resize(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    const std::uint8_t* p = a.data.data() + i * a.itemsize;
    std::uint64_t u = 0;
    std::memcpy(&u, p, a.itemsize);
    if (a.kind == 'i' && a.itemsize < 8 && (u >> (8 * a.itemsize - 1)) & 1) u |= ~std::uint64_t{0} << (8 * a.itemsize);
    if (a.kind == 'u' && a.itemsize == 8 && u > static_cast<std::uint64_t>(INT64_MAX)) {
      throw DataError(where, "label at row " + std::to_string(i) + " is " + std::to_string(u) +
                                 ", beyond 64-bit signed integers");
    }
    out.values[i] = static_cast<std::int64_t>(u);
  }
  return out;
}

// The model's parameters, (C, D) weights and C biases in double while fitting, must fit the byte limit too: a
// sparse file names index 2e9 in a few bytes.
void check_parameter_bytes(const FeatureData& d, const IdxLimits& limits) {
  const long double bytes = 8.0L * (static_cast<long double>(d.train_x.cols) + 1) * static_cast<long double>(d.classes.size());
  if (bytes > static_cast<long double>(limits.max_bytes)) {
    throw DataError(d.train_path, "a model of " + std::to_string(d.train_x.cols) + " features and " +
                                      std::to_string(d.classes.size()) + " classes needs " +
                                      std::to_string(static_cast<unsigned long long>(bytes)) +
                                      " bytes of parameters, over the limit of " + std::to_string(limits.max_bytes) +
                                      " bytes (raise it with --max-bytes)");
  }
}

struct NpzSplits {
  FeatureMatrix train_x, test_x;
  RawLabels train_y, test_y;
  std::vector<double> train_w;
  bool has_test = false;
};

NpzSplits read_npz_splits(const std::string& path, const IdxLimits& limits, bool need_train,
                          const FeatureRowWindow& window = {}) {
  NpzRows rows;
  if (window) {
    rows.members = {"x_train.npy", "X_train.npy"};
    rows.window = [&](std::uint64_t n) {
      const std::pair<std::size_t, std::size_t> kept = window(static_cast<std::size_t>(n));
      return std::pair<std::uint64_t, std::uint64_t>{kept.first, kept.second};
    };
  }
  std::vector<NpyArray> arrays = load_npz(path, limits, rows);
  NpzSplits s;
  NpyArray* xtr = find_array(arrays, path, {"x_train", "X_train"});
  NpyArray* ytr = find_array(arrays, path, {"y_train", "Y_train"});
  NpyArray* xte = find_array(arrays, path, {"x_test", "X_test"});
  NpyArray* yte = find_array(arrays, path, {"y_test", "Y_test"});
  if ((xtr == nullptr) != (ytr == nullptr) || (xte == nullptr) != (yte == nullptr) || (need_train && xtr == nullptr) ||
      (xtr == nullptr && xte == nullptr)) {
    std::string members;
    for (const NpyArray& a : arrays) members += (members.empty() ? "" : ", ") + a.member;
    throw DataError(path, "expected the arrays x_train and y_train (X_ also accepted), optionally x_test and y_test; "
                          "found " + (members.empty() ? std::string("no arrays") : members));
  }
  if (xtr != nullptr) {
    s.train_x = dense_of(std::move(*xtr), path);
    s.train_y = labels_of(*ytr, path, s.train_x.rows);
    if (NpyArray* wtr = find_array(arrays, path, {"w_train"})) {
      s.train_w = sample_weights_of(*wtr, path + ": " + wtr->member, s.train_x.rows);
    }
  }
  if (xte != nullptr) {
    s.has_test = true;
    s.test_x = dense_of(std::move(*xte), path);
    s.test_y = labels_of(*yte, path, s.test_x.rows);
  }
  if (xtr != nullptr && xte != nullptr && s.train_x.cols != s.test_x.cols) {
    throw DataError(path, xte->member + " has " + std::to_string(s.test_x.cols) + " features per row but " +
                              xtr->member + " has " + std::to_string(s.train_x.cols) + "; the widths must match");
  }
  return s;
}

}  // namespace

FeatureData load_feature_data(const std::string& path, const std::string& test_path, const IdxLimits& limits,
                              const FeatureRowWindow& window) {
  FeatureData d;
  d.train_path = path;
  if (feature_format_of(path) == FeatureFormat::kNpz) {
    d.format = "npz";
    NpzSplits s = read_npz_splits(path, limits, true, window);
    if (s.has_test && !test_path.empty()) {
      throw DataError(path, "holds x_test and y_test, and --test-data " + test_path + " was given too; either could "
                            "be meant");
    }
    RawLabels test_y;
    if (!test_path.empty()) {
      if (feature_format_of(test_path) != FeatureFormat::kNpz) {
        throw DataError(test_path, "expected an .npz like --data's " + path + ", found another format");
      }
      NpzSplits t = read_npz_splits(test_path, limits, false);
      s.has_test = true;
      s.test_x = t.has_test ? std::move(t.test_x) : std::move(t.train_x);
      test_y = t.has_test ? std::move(t.test_y) : std::move(t.train_y);
      if (s.test_x.cols != s.train_x.cols) {
        throw DataError(test_path, "has " + std::to_string(s.test_x.cols) + " features per row but " + path +
                                       " has " + std::to_string(s.train_x.cols) + "; the widths must match");
      }
      d.test_path = test_path;
    } else if (s.has_test) {
      test_y = std::move(s.test_y);
      d.test_path = path;
    }
    d.train_x = std::move(s.train_x);
    d.train_w = std::move(s.train_w);
    d.has_test = s.has_test;
    if (d.has_test) d.test_x = std::move(s.test_x);
    map_labels(s.train_y, d.has_test ? &test_y : nullptr, d);
  } else {
    d.format = "svmlight";
    SvmlightRows train = load_svmlight(path, limits);
    SvmlightRows test;
    std::vector<SvmlightRows*> files = {&train};
    if (!test_path.empty()) {
      if (feature_format_of(test_path) != FeatureFormat::kSvmlight) {
        throw DataError(test_path, "expected an svmlight text file like --data's " + path + ", found a zip (.npz)");
      }
      test = load_svmlight(test_path, limits);
      files.push_back(&test);
      d.has_test = true;
      d.test_path = test_path;
    }
    d.zero_based = align_svmlight_indices(files);
    d.train_x = std::move(train.x);
    if (d.has_test) d.test_x = std::move(test.x);
    map_labels(train.y, d.has_test ? &test.y : nullptr, d);
  }
  check_parameter_bytes(d, limits);
  return d;
}

LabelledFeatures load_features_for_model(const std::string& path, std::size_t D, const std::vector<std::int64_t>& classes,
                                         const IdxLimits& limits, std::optional<bool> zero_based) {
  LabelledFeatures out;
  RawLabels raw;
  if (feature_format_of(path) == FeatureFormat::kNpz) {
    NpzSplits s = read_npz_splits(path, limits, false);
    out.split = s.has_test ? "test" : "train";
    out.x = s.has_test ? std::move(s.test_x) : std::move(s.train_x);
    raw = s.has_test ? std::move(s.test_y) : std::move(s.train_y);
  } else {
    SvmlightRows rows = load_svmlight(path, limits);
    // The training file's base when the model records it; else judged from this file alone (as scikit-learn
    // does for one file). A file narrower than the model is widened with zeros.
    align_svmlight_indices({&rows}, 1, zero_based);
    if (rows.x.cols > D) {
      throw DataError(path, "has feature index " + std::to_string(rows.x.cols - 1) + " (0-based), but the model takes " +
                                std::to_string(D) + " features");
    }
    rows.x.cols = D;
    out.split = "all";
    out.x = std::move(rows.x);
    raw = std::move(rows.y);
  }
  if (out.x.cols != D) {
    throw DataError(path, "has " + std::to_string(out.x.cols) + " features per row, but the model takes " +
                              std::to_string(D));
  }
  // Map onto the model's classes: a label the model never saw cannot be scored.
  out.y.resize(raw.values.size());
  for (std::size_t i = 0; i < raw.values.size(); ++i) {
    const auto it = std::lower_bound(classes.begin(), classes.end(), raw.values[i]);
    if (it == classes.end() || *it != raw.values[i]) {
      throw DataError(path, "label at row " + std::to_string(i) + " is " + std::to_string(raw.values[i]) +
                                ", which is not one of the model's " + std::to_string(classes.size()) + " classes");
    }
    out.y[i] = static_cast<std::uint32_t>(it - classes.begin());
  }
  return out;
}

}  // namespace logreg
