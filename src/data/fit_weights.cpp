// Sample and class weights of a feature-file fit (include/logreg/fit_weights.hpp): their readers and checks,
// and their product per row.
#include "logreg/fit_weights.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <map>
#include <sstream>

#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {
namespace {

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

std::vector<double> sample_weights_of(const NpyArray& a, const std::string& where, std::size_t rows) {
  if (a.shape.size() != 1) {
    throw DataError(where, "expected a 1-D array of sample weights, found " + std::to_string(a.shape.size()) +
                               " dimensions");
  }
  if (a.kind != 'f' || (a.itemsize != 4 && a.itemsize != 8)) {
    throw DataError(where, "expected float32 or float64 sample weights, found dtype '" + a.descr() +
                               "' (convert with w.astype(np.float64))");
  }
  if (a.shape[0] != rows) {
    throw DataError(where, "holds " + std::to_string(a.shape[0]) + " sample weights but the training set has " +
                               std::to_string(rows) + " rows; one weight per row");
  }
  std::vector<double> w(rows);
  bool any = false;
  for (std::size_t i = 0; i < rows; ++i) {
    if (a.itemsize == 4) {
      float f;
      std::memcpy(&f, a.data.data() + i * 4, 4);
      w[i] = f;
    } else {
      std::memcpy(&w[i], a.data.data() + i * 8, 8);
    }
    if (!std::isfinite(w[i]) || w[i] < 0.0) {
      throw DataError(where, "sample weight " + number_text(w[i]) + " at row " + std::to_string(i) +
                                 ": weights must be finite and >= 0");
    }
    any = any || w[i] > 0.0;
  }
  if (!any) throw DataError(where, "every sample weight is zero: nothing to fit");
  return w;
}

std::vector<double> read_sample_weights(const std::string& path, std::size_t rows, const IdxLimits& limits) {
  std::uint64_t file_bytes = 0;
  read_file_prefix(path, 0, &file_bytes);
  if (file_bytes > limits.max_bytes) {
    throw DataError(path, "is " + std::to_string(file_bytes) + " bytes, over the limit of " +
                              std::to_string(limits.max_bytes) + " bytes (raise it with --max-bytes)");
  }
  const std::vector<std::uint8_t> bytes = read_whole_file(path);
  return sample_weights_of(parse_npy(bytes.data(), bytes.size(), path), path, rows);
}

std::vector<double> class_weights_of(const std::string& spec, const std::vector<std::int64_t>& classes,
                                     const std::vector<std::uint32_t>& y) {
  const std::size_t C = classes.size();
  std::vector<double> cw(C, 1.0);
  if (spec == "none") return cw;
  if (spec == "balanced") {
    std::vector<std::size_t> count(C, 0);
    for (const std::uint32_t c : y) ++count[c];
    for (std::size_t c = 0; c < C; ++c) {
      if (count[c] == 0) {
        throw DataError("--class-weight balanced", "class " + std::to_string(classes[c]) + " has no training row");
      }
      cw[c] = static_cast<double>(y.size()) / (static_cast<double>(C) * static_cast<double>(count[c]));
    }
    return cw;
  }
  std::error_code ec;
  if (!std::filesystem::exists(spec, ec)) {
    throw UsageError("--class-weight " + spec + ": expected none, balanced, or a file of LABEL WEIGHT lines (no such file)");
  }
  // A small text file: bounded before it is read (a mapping of at most 256 labels is far shorter).
  constexpr std::uint64_t kMaxBytes = 1 << 20;
  std::uint64_t file_bytes = 0;
  read_file_prefix(spec, 0, &file_bytes);
  if (file_bytes > kMaxBytes) {
    throw DataError(spec, "--class-weight file of " + std::to_string(file_bytes) + " bytes: expected at most " +
                              std::to_string(kMaxBytes) + " bytes of LABEL WEIGHT lines");
  }
  const std::vector<std::uint8_t> bytes = read_whole_file(spec);
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  std::map<std::int64_t, int> line_of;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string label_text, weight_text, extra;
    if (!(fields >> label_text)) continue;  // blank or a comment
    const std::string at = "line " + std::to_string(number) + ": ";
    if (!(fields >> weight_text) || (fields >> extra)) {
      throw DataError(spec, at + "expected `LABEL WEIGHT`, found '" + line.substr(0, 60) + "'");
    }
    std::size_t used = 0;
    std::int64_t label = 0;
    double weight = 0.0;
    try {
      label = std::stoll(label_text, &used);
      if (used != label_text.size()) throw std::invalid_argument("label");
      weight = std::stod(weight_text, &used);
      if (used != weight_text.size()) throw std::invalid_argument("weight");
    } catch (const std::exception&) {
      throw DataError(spec, at + "expected an integer label and a number, found '" + line.substr(0, 60) + "'");
    }
    if (!std::isfinite(weight) || weight < 0.0) {
      throw DataError(spec, at + "weight " + weight_text + " of label " + label_text + ": weights must be finite and >= 0");
    }
    std::size_t c = 0;
    while (c < C && classes[c] != label) ++c;
    if (c == C) throw DataError(spec, at + "label " + label_text + " is not one of the training labels");
    if (!line_of.emplace(label, number).second) {
      throw DataError(spec, at + "label " + label_text + " was given already on line " + std::to_string(line_of[label]));
    }
    cw[c] = weight;
  }
  return cw;
}

FeatureFitTerms fit_terms_of(const std::vector<double>& sample_weights, const std::vector<double>& class_weights,
                             const std::vector<std::uint32_t>& y, bool intercept, const std::string& what) {
  FeatureFitTerms t;
  t.intercept = intercept;
  const std::size_t n = y.size();
  bool all_one = true, any = false;
  std::vector<double> a(n);
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double s = sample_weights.empty() ? 1.0 : sample_weights[i];
    total += s;
    a[i] = s * class_weights[y[i]];
    all_one = all_one && a[i] == 1.0;
    any = any || a[i] > 0.0;
  }
  if (!any) throw DataError(what, "every row's weight (sample weight x class weight) is zero: nothing to fit");
  t.weight_total = sample_weights.empty() ? static_cast<double>(n) : total;
  if (!all_one) t.row_weights = std::move(a);
  return t;
}

}  // namespace logreg
