// The svmlight / libsvm reader (include/logreg/svmlight_reader.hpp): a single pass over the text, each line
// checked field by field into CSR rows. The file's size is bounded before it is read, and every vector grows
// with what the text holds (an entry takes at least 4 bytes of text), so nothing is allocated from a number
// read from the file.
#include "logreg/svmlight_reader.hpp"

#include <charconv>
#include <cmath>
#include <string_view>

#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {
namespace {

std::string shown_token(std::string_view t) {
  std::string out;
  for (const char c : t.substr(0, 32)) out += (c >= 32 && c < 127) ? c : '?';
  return "'" + out + (t.size() > 32 ? "...'" : "'");
}

class SvmlightParser {
 public:
  SvmlightParser(const std::vector<std::uint8_t>& bytes, const std::string& name)
      : text_(reinterpret_cast<const char*>(bytes.data()), bytes.size()), name_(name) {}

  SvmlightRows parse() {
    SvmlightRows out;
    out.x.path = name_;
    out.y.path = name_;
    out.x.sparse = true;
    out.x.dtype = FeatureDtype::kFloat64;
    out.x.row_start.push_back(0);
    std::size_t pos = 0;
    std::uint64_t max_index = 0;
    bool any_index = false;
    while (pos < text_.size()) {
      std::size_t eol = text_.find('\n', pos);
      if (eol == std::string_view::npos) eol = text_.size();
      ++line_;
      line_start_ = pos;
      std::string_view line = text_.substr(pos, eol - pos);
      const std::size_t hash = line.find('#');
      if (hash != std::string_view::npos) line = line.substr(0, hash);
      if (line.find('\0') != std::string_view::npos) {
        fail(line.find('\0'), "text", "text, not a NUL byte (is this a binary file?)", "\\0");
      }
      std::size_t i = 0;
      bool have_label = false, have_feature = false;
      std::uint32_t last_index = 0;
      while (true) {
        while (i < line.size() && is_space(line[i])) ++i;
        if (i == line.size()) break;
        std::size_t j = i;
        while (j < line.size() && !is_space(line[j])) ++j;
        const std::string_view tok = line.substr(i, j - i);
        if (!have_label) {
          out.y.values.push_back(label(tok, i));
          have_label = true;
        } else if (tok.substr(0, 4) == "qid:" && !have_feature) {
          qid(tok, i);  // query ids group rows for ranking: read and ignored, as scikit-learn does by default
        } else {
          const std::uint32_t index = feature(tok, i, &out.x.values);
          if (have_feature && index <= last_index) {
            fail(i, "feature index", "indices in increasing order, each once (as scikit-learn's loader requires), "
                                     "after index " + std::to_string(last_index), std::to_string(index));
          }
          out.x.col_index.push_back(index);
          out.min_index = std::min(out.min_index, index);
          max_index = std::max<std::uint64_t>(max_index, index);
          any_index = true;
          last_index = index;
          have_feature = true;
        }
        i = j;
      }
      if (have_label) out.x.row_start.push_back(out.x.values.size());
      pos = eol + 1;
    }
    out.x.rows = out.y.values.size();
    out.x.cols = any_index ? static_cast<std::size_t>(max_index) + 1 : 1;
    if (out.x.rows == 0) throw DataError(name_, "no rows: expected lines of the form 'LABEL INDEX:VALUE ...'");
    return out;
  }

 private:
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

  [[noreturn]] void fail(std::size_t column, const std::string& field, const std::string& expected,
                         const std::string& found) const {
    throw DataError(name_, "line " + std::to_string(line_) + ", byte " + std::to_string(line_start_ + column) + ", " +
                               field + ": expected " + expected + ", found " + found);
  }

  // A whole number: [+-]digits, optionally followed by '.' and zeros (3.0), as written for integer labels.
  std::int64_t label(std::string_view t, std::size_t col) const {
    std::string_view digits = t;
    bool negative = false;
    if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    const std::size_t dot = digits.find('.');
    if (dot != std::string_view::npos) {
      for (const char c : digits.substr(dot + 1)) {
        if (c != '0') fail(col, "label", "a whole number (class labels are integers)", shown_token(t));
      }
      digits = digits.substr(0, dot);
    }
    std::uint64_t v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
      fail(col, "label", "a whole number (class labels are integers)", shown_token(t));
    }
    if (v > static_cast<std::uint64_t>(INT64_MAX)) fail(col, "label", "a label within 64-bit integers", shown_token(t));
    return negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
  }

  void qid(std::string_view t, std::size_t col) const {
    const std::string_view v = t.substr(4);
    std::uint64_t q = 0;
    const auto r = std::from_chars(v.data(), v.data() + v.size(), q);
    if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size()) {
      fail(col, "qid", "qid:N with N a whole number", shown_token(t));
    }
  }

  std::uint32_t feature(std::string_view t, std::size_t col, std::vector<double>* values) const {
    const std::size_t colon = t.find(':');
    if (colon == std::string_view::npos) fail(col, "feature", "INDEX:VALUE", shown_token(t));
    const std::string_view is = t.substr(0, colon), vs = t.substr(colon + 1);
    std::uint64_t index = 0;
    const auto ri = std::from_chars(is.data(), is.data() + is.size(), index);
    if (is.empty() || ri.ec != std::errc() || ri.ptr != is.data() + is.size()) {
      fail(col, "feature index", "a non-negative whole number before ':'", shown_token(t));
    }
    if (index > kSvmlightMaxIndex) {
      fail(col, "feature index", "at most " + std::to_string(kSvmlightMaxIndex), shown_token(t));
    }
    double v = 0.0;
    const auto rv = std::from_chars(vs.data(), vs.data() + vs.size(), v);
    if (vs.empty() || rv.ec != std::errc() || rv.ptr != vs.data() + vs.size() || !std::isfinite(v)) {
      fail(col + colon + 1, "feature value", "a finite decimal number after ':'", shown_token(t));
    }
    values->push_back(v);
    return static_cast<std::uint32_t>(index);
  }

  std::string_view text_;
  const std::string& name_;
  std::size_t line_ = 0;
  std::size_t line_start_ = 0;
};

}  // namespace

SvmlightRows parse_svmlight(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  return SvmlightParser(bytes, name).parse();
}

SvmlightRows load_svmlight(const std::string& path, const IdxLimits& limits) {
  std::uint64_t file_bytes = 0;
  const std::uint64_t want = limits.max_bytes == UINT64_MAX ? UINT64_MAX : limits.max_bytes + 1;
  const std::vector<std::uint8_t> bytes = read_file_prefix(path, want, &file_bytes);
  if (file_bytes > limits.max_bytes) {
    throw DataError(path, "the file is " + std::to_string(file_bytes) + " bytes, over the limit of " +
                              std::to_string(limits.max_bytes) + " bytes (raise it with --max-bytes)");
  }
  return parse_svmlight(bytes, path);
}

bool align_svmlight_indices(std::vector<SvmlightRows*> files, std::size_t min_cols, std::optional<bool> base) {
  bool zero_based = false;
  for (const SvmlightRows* f : files) zero_based = zero_based || f->min_index == 0;
  if (base) {
    if (!*base && zero_based) {
      for (const SvmlightRows* f : files) {
        if (f->min_index == 0) {
          throw DataError(f->x.path, "writes feature index 0, but the model was trained on 1-based indices (its "
                                     "training file never wrote index 0)");
        }
      }
    }
    zero_based = *base;
  }
  std::size_t cols = min_cols;
  for (SvmlightRows* f : files) {
    if (!zero_based) {
      for (std::uint32_t& j : f->x.col_index) --j;
      if (f->x.cols > 1 || !f->x.col_index.empty()) f->x.cols -= 1;
    }
    cols = std::max(cols, f->x.cols);
  }
  for (SvmlightRows* f : files) f->x.cols = cols;
  return zero_based;
}

}  // namespace logreg
