// The checked reading of typed option values shared by every subcommand (option_values.hpp).
#include "option_values.hpp"

#include <cctype>
#include <cerrno>
#include <cfloat>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

namespace logreg::cli {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Why `text` is not written as a number at all ("" when it is): the reasons echo it in brackets.
std::string spelling_problem(const std::string& text) {
  if (text.empty()) return "empty";
  if (std::isspace(static_cast<unsigned char>(text.front())) != 0 ||
      std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    return "spaces around a number are refused";
  }
  if (text.size() > 1 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X' || text[1] == 'b' || text[1] == 'B' ||
                                            text[1] == 'o' || text[1] == 'O')) {
    return "decimal only, no 0x, 0b or 0o prefix";
  }
  return "";
}

// The text echoed in a message: quoted, and cut short when long.
std::string echo(const std::string& text) {
  constexpr std::size_t kMax = 40;
  return "'" + (text.size() > kMax ? text.substr(0, kMax) + "..." : text) + "'";
}

std::string with_reason(const std::string& expected, const std::string& text, const std::string& reason) {
  return "expected " + expected + ", got " + echo(text) + (reason.empty() ? "" : " (" + reason + ")");
}

// Decimal digits after an optional '-' (or none when !allow_minus); the magnitude in *magnitude, false on
// overflow of 64 bits (then *overflow).
bool read_digits(const std::string& text, bool allow_minus, bool* negative, std::uint64_t* magnitude, bool* overflow) {
  std::size_t i = 0;
  *negative = false;
  *overflow = false;
  if (allow_minus && i < text.size() && text[i] == '-') {
    *negative = true;
    ++i;
  }
  if (i == text.size()) return false;
  std::uint64_t m = 0;
  for (; i < text.size(); ++i) {
    if (!is_digit(text[i])) return false;
    const auto d = static_cast<std::uint64_t>(text[i] - '0');
    if (m > (std::numeric_limits<std::uint64_t>::max() - d) / 10) *overflow = true;
    m = m * 10 + d;
  }
  *magnitude = m;
  return true;
}

bool is_decimal_real(const std::string& s) {
  std::size_t i = 0, digits = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  for (; i < s.size() && is_digit(s[i]); ++i) ++digits;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && is_digit(s[i]); ++i) ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exponent_digits = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  return i == s.size();
}

std::string range_text(const RealRange& r) {
  const bool has_lo = std::isfinite(r.lo), has_hi = std::isfinite(r.hi);
  if (has_lo && has_hi) {
    return "a number in " + std::string(r.lo_open ? "(" : "[") + number_text(r.lo) + ", " + number_text(r.hi) +
           (r.hi_open ? ")" : "]");
  }
  if (has_lo) return "a number " + std::string(r.lo_open ? "> " : ">= ") + number_text(r.lo);
  if (has_hi) return "a number " + std::string(r.hi_open ? "< " : "<= ") + number_text(r.hi);
  return "a finite number";
}

std::string integer_range_text(std::int64_t lo, std::int64_t hi) {
  if (lo == std::numeric_limits<std::int64_t>::min() && hi == std::numeric_limits<std::int64_t>::max()) {
    return "a whole number";
  }
  return "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
}

}  // namespace

std::string number_text(double v) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string integer_problem(const std::string& text, std::int64_t lo, std::int64_t hi, std::int64_t* value) {
  const std::string expected = integer_range_text(lo, hi);
  std::string reason = spelling_problem(text);
  bool negative = false, overflow = false;
  std::uint64_t magnitude = 0;
  if (reason.empty() && !read_digits(text, true, &negative, &magnitude, &overflow)) {
    reason = "decimal digits only, with an optional '-'";
  }
  if (!reason.empty()) return with_reason(expected, text, reason);
  const std::uint64_t limit = negative ? std::uint64_t{1} << 63 : static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (overflow || magnitude > limit) return with_reason(expected, text, "");
  const std::int64_t v = negative ? (magnitude == limit ? std::numeric_limits<std::int64_t>::min()
                                                        : -static_cast<std::int64_t>(magnitude))
                                  : static_cast<std::int64_t>(magnitude);
  if (v < lo || v > hi) return with_reason(expected, text, "");
  *value = v;
  return "";
}

std::string unsigned_problem(const std::string& text, std::uint64_t hi, std::uint64_t* value) {
  const std::string expected = "a whole number from 0 to " + std::to_string(hi);
  std::string reason = spelling_problem(text);
  bool negative = false, overflow = false;
  std::uint64_t magnitude = 0;
  if (reason.empty() && !read_digits(text, false, &negative, &magnitude, &overflow)) reason = "decimal digits only";
  if (!reason.empty()) return with_reason(expected, text, reason);
  if (overflow || magnitude > hi) return with_reason(expected, text, "");
  *value = magnitude;
  return "";
}

std::string real_range_problem(double v, const std::string& shown, const RealRange& r) {
  const std::string expected = range_text(r);
  if (!std::isfinite(v)) return with_reason(expected, shown, "not finite");
  double as_used = v;
  if (r.float32) {
    if (std::fabs(v) > static_cast<double>(FLT_MAX)) {
      return with_reason(expected, shown, "overflows a 32-bit float, whose largest value is " + number_text(FLT_MAX));
    }
    const float f = static_cast<float>(v);
    if (v != 0.0 && std::fabs(f) < FLT_MIN) {
      return with_reason(expected, shown,
                         "underflows a 32-bit float, whose smallest normal value is " + number_text(FLT_MIN));
    }
    as_used = static_cast<double>(f);
  }
  const bool below = r.lo_open ? !(as_used > r.lo) : as_used < r.lo;
  const bool above = r.hi_open ? !(as_used < r.hi) : as_used > r.hi;
  if (below || above) {
    return with_reason(expected, shown, as_used != v ? "as a 32-bit float it is " + number_text(as_used) : "");
  }
  return "";
}

std::string real_problem(const std::string& text, const RealRange& range, double* value) {
  std::string reason = spelling_problem(text);
  if (reason.empty() && !is_decimal_real(text)) reason = "a decimal number such as 0.01 or 1e-3";
  if (!reason.empty()) return with_reason(range_text(range), text, reason);
  errno = 0;
  const double v = std::strtod(text.c_str(), nullptr);
  if (std::isinf(v)) return with_reason(range_text(range), text, "overflows a double");
  if (v != 0.0 && std::fabs(v) < DBL_MIN) {
    return with_reason(range_text(range), text, "underflows a double, whose smallest normal value is " + number_text(DBL_MIN));
  }
  if (v == 0.0 && errno == ERANGE) return with_reason(range_text(range), text, "underflows a double to 0");
  const std::string problem = real_range_problem(v, text, range);
  if (!problem.empty()) return problem;
  *value = v;
  return "";
}

CLI::Validator integer_in(std::int64_t lo, std::int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& input) -> std::string {
        std::int64_t v = 0;
        std::string problem = integer_problem(input, lo, hi, &v);
        if (problem.empty()) input = std::to_string(v);
        return problem;
      },
      "");
}

CLI::Validator unsigned_up_to(std::uint64_t hi) {
  return CLI::Validator(
      [hi](std::string& input) -> std::string {
        std::uint64_t v = 0;
        std::string problem = unsigned_problem(input, hi, &v);
        if (problem.empty()) input = std::to_string(v);
        return problem;
      },
      "");
}

CLI::Validator real_in(const RealRange& range) {
  return CLI::Validator(
      [range](std::string& input) -> std::string {
        double v = 0.0;
        std::string problem = real_problem(input, range, &v);
        if (problem.empty()) {
          char buf[40];
          std::snprintf(buf, sizeof buf, "%.17g", v);  // reads back as v exactly
          input = buf;
        }
        return problem;
      },
      "");
}

CLI::Validator byte_size() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        const std::string expected = "a size of at least 1 byte, in bytes or with a unit (512M, 8G)";
        std::string reason = spelling_problem(input);
        std::size_t digits_end = 0;
        while (digits_end < input.size() && is_digit(input[digits_end])) ++digits_end;
        std::string unit = input.substr(digits_end);
        for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        int shift = -1;
        if (unit.empty() || unit == "b") shift = 0;
        for (const auto& [letter, bits] : {std::pair<char, int>{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}}) {
          if (!unit.empty() && unit[0] == letter && (unit.size() == 1 || unit.substr(1) == "b" || unit.substr(1) == "ib")) {
            shift = bits;
          }
        }
        if (reason.empty() && (digits_end == 0 || shift < 0)) reason = "decimal digits and an optional unit k, M, G or T";
        if (!reason.empty()) return with_reason(expected, input, reason);
        bool negative = false, overflow = false;
        std::uint64_t n = 0;
        read_digits(input.substr(0, digits_end), false, &negative, &n, &overflow);
        if (overflow || (shift > 0 && n > (std::numeric_limits<std::uint64_t>::max() >> shift))) {
          return with_reason(expected, input, "more than 2^64 - 1 bytes");
        }
        n <<= shift;
        if (n == 0) return with_reason(expected, input, "");
        input = std::to_string(n);
        return "";
      },
      "");
}

void refuse_empty_values(CLI::App& app) {
  const CLI::Validator not_empty(
      [](std::string& input) -> std::string {
        if (!input.empty()) return std::string();
        return "empty value: give a value or leave the option out (an empty string never means \"not given\")";
      },
      "");
  for (CLI::App* sub : app.get_subcommands({})) {
    for (CLI::Option* opt : sub->get_options()) {
      if (opt->get_items_expected_max() == 0) continue;  // a flag takes no value
      opt->transform(not_empty);  // transform: runs before the option's own checks and conversions
    }
  }
}

}  // namespace logreg::cli
