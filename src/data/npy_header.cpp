// The .npy reader (parse_npy, include/logreg/npz_reader.hpp; parse_npy_header, npy_header.hpp): numpy's header
// dict read strictly, a plain little-endian numeric dtype, the shape's size checked against the member's bytes.
// Not here: the zip around the members (npz_reader.cpp).
#include <cctype>
#include <cstring>

#include "logreg/errors.hpp"
#include "logreg/npz_reader.hpp"
#include "npy_header.hpp"

namespace logreg {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy data is used in place: a little-endian host");

constexpr std::size_t kMaxDims = 32;  // numpy's NPY_MAXDIMS

// The header dict, e.g. {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }, as numpy writes it:
// exactly these three keys, single-quoted strings, Python booleans, a tuple of non-negative integers.
class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  void parse(std::string* descr, bool* fortran, std::vector<std::uint64_t>* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip();
    expect('{');
    for (;;) {
      skip();
      if (peek() == '}') break;
      const std::string key = quoted();
      skip();
      expect(':');
      skip();
      if (key == "descr" && !have_descr) {
        *descr = quoted();
        have_descr = true;
      } else if (key == "fortran_order" && !have_fortran) {
        *fortran = boolean();
        have_fortran = true;
      } else if (key == "shape" && !have_shape) {
        *shape = tuple();
        have_shape = true;
      } else {
        fail("a key 'descr', 'fortran_order' or 'shape' (each once)", "'" + shown(key) + "'");
      }
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip();
      if (peek() != '}') fail("',' or '}'", found());
    }
    expect('}');
    skip();
    if (i_ != s_.size()) fail("the end of the header after '}'", found());
    if (!have_descr || !have_fortran || !have_shape) fail("the keys 'descr', 'fortran_order' and 'shape'", "fewer");
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n')) ++i_;
  }
  std::string found() const {
    return i_ >= s_.size() ? "the end of the header" : "'" + shown(s_.substr(i_, 12)) + "'";
  }
  [[noreturn]] void fail(const std::string& expected, const std::string& got) const {
    throw DataError(where_, ".npy header at character " + std::to_string(i_) + ": expected " + expected + ", found " + got);
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("'") + c + "'", found());
    ++i_;
  }
  std::string quoted() {
    if (peek() != '\'') fail("a quoted string", found());
    const std::size_t end = s_.find('\'', i_ + 1);
    if (end == std::string::npos) fail("a closing quote", "the end of the header");
    std::string out = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    fail("True or False", found());
  }
  std::uint64_t integer() {
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("a non-negative whole number", found());
    std::uint64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, static_cast<unsigned>(s_[i_] - '0'), &v)) {
        fail("a dimension below 2^64", "a larger number");
      }
      ++i_;
    }
    if (peek() == 'L') ++i_;  // Python 2's long literal, which old numpy wrote
    return v;
  }
  std::vector<std::uint64_t> tuple() {
    expect('(');
    std::vector<std::uint64_t> dims;
    for (;;) {
      skip();
      if (peek() == ')') break;
      if (dims.size() == kMaxDims) fail("at most 32 dimensions", "more");
      dims.push_back(integer());
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != ')') fail("',' or ')'", found());
    }
    expect(')');
    return dims;
  }

  const std::string& s_;
  const std::string& where_;
  std::size_t i_ = 0;
};

// kind and itemsize of a descr numpy writes for a plain numeric array; DataError for anything else, with the
// reason for the common refusals (objects need pickle; big-endian data).
void parse_descr(const std::string& descr, const std::string& where, char* kind, std::size_t* itemsize) {
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '=')) {
    const char k = descr[1];
    const char size = descr[2];
    if ((k == 'u' || k == 'i') && (size == '1' || size == '2' || size == '4' || size == '8')) {
      *kind = k;
      *itemsize = static_cast<std::size_t>(size - '0');
      if (*itemsize == 1 || descr[0] != '|') return;
    }
    if (k == 'f' && (size == '4' || size == '8') && descr[0] != '|') {
      *kind = 'f';
      *itemsize = static_cast<std::size_t>(size - '0');
      return;
    }
    if (k == 'b' && size == '1') {
      *kind = 'b';
      *itemsize = 1;
      return;
    }
  }
  std::string why;
  if (descr.find('O') != std::string::npos) {
    why = " (an object array: reading it needs pickle, which is refused; save numeric arrays)";
  } else if (!descr.empty() && descr[0] == '>') {
    why = " (big-endian: save it with arr.astype(arr.dtype.newbyteorder('<')))";
  }
  throw DataError(where, ".npy header field 'descr': expected a little-endian integer, bool or float32/float64 dtype "
                         "('|u1', '<i8', '<f4', '<f8', ...), found '" + shown(descr) + "'" + why);
}

}  // namespace

std::uint64_t NpyArray::elements() const {
  std::uint64_t n = 1;
  for (const std::uint64_t d : shape) n *= d;  // checked for overflow when parsed
  return n;
}

std::string NpyArray::descr() const {
  return std::string(itemsize == 1 ? "|" : "<") + kind + std::to_string(itemsize);
}

NpyArray parse_npy_header(const std::uint8_t* b, std::size_t avail, std::uint64_t n, const std::string& where,
                          std::size_t* data_at_out) {
  static const std::uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (avail < 10 || std::memcmp(b, kMagic, 6) != 0) {
    throw DataError(where, "bytes 0-5: expected the .npy magic \\x93NUMPY, found " +
                               std::string(avail < 6 ? "a shorter member" : "other bytes"));
  }
  const std::uint8_t major = b[6], minor = b[7];
  if (major < 1 || major > 3 || minor != 0) {
    throw DataError(where, ".npy version at byte 6: expected 1.0, 2.0 or 3.0, found " + std::to_string(major) + "." +
                               std::to_string(minor));
  }
  std::size_t header_len = 0, header_at = 0;
  if (major == 1) {
    header_len = le16(b + 8);
    header_at = 10;
  } else {
    if (avail < 12) throw DataError(where, ".npy header length at byte 8: expected 4 bytes, found the end of the member");
    const std::uint32_t len = le32(b + 8);
    if (len > kMaxNpyHeader) {
      throw DataError(where, ".npy header length at byte 8: expected at most 65535, found " + std::to_string(len));
    }
    header_len = len;
    header_at = 12;
  }
  if (header_len > avail - header_at) {
    throw DataError(where, ".npy header length at byte 8: " + std::to_string(header_len) + " bytes, but the member has " +
                               std::to_string(avail - header_at) + " after it");
  }
  const std::string header(reinterpret_cast<const char*>(b + header_at), header_len);
  if (header.empty() || header.back() != '\n') {
    throw DataError(where, ".npy header: expected it to end in a newline, found " +
                               std::string(header.empty() ? "an empty header" : "another byte"));
  }
  std::string descr;
  bool fortran = true;
  NpyArray a;
  NpyHeaderParser(header, where).parse(&descr, &fortran, &a.shape);
  if (fortran) {
    throw DataError(where, ".npy header field 'fortran_order': expected False (C order), found True; save "
                           "np.ascontiguousarray(arr)");
  }
  parse_descr(descr, where, &a.kind, &a.itemsize);
  std::uint64_t bytes = a.itemsize;
  for (const std::uint64_t d : a.shape) {
    if (__builtin_mul_overflow(bytes, d, &bytes)) {
      throw DataError(where, ".npy header field 'shape': the array's size overflows 64 bits");
    }
  }
  const std::size_t data_at = header_at + header_len;
  if (bytes != n - data_at) {
    throw DataError(where, "data at byte " + std::to_string(data_at) + ": the header's shape and dtype '" + descr +
                               "' promise " + std::to_string(bytes) + " bytes, found " + std::to_string(n - data_at));
  }
  *data_at_out = data_at;
  return a;
}

NpyArray parse_npy(const std::uint8_t* b, std::size_t n, const std::string& where) {
  std::size_t data_at = 0;
  NpyArray a = parse_npy_header(b, n, n, where, &data_at);
  a.data.assign(b + data_at, b + n);
  return a;
}

}  // namespace logreg
