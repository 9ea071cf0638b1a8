// The one checked reading of values typed on the command line, before CLI11 converts them: no option takes
// an empty value as "not given", and every number is decimal, with no spaces around it, in its range, and
// echoed as typed when refused. Not here: the checks that depend on other options or on the data
// (run_settings.cpp, the commands).
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdint>
#include <string>

namespace logreg::cli {

// Adds to every option of `app`'s subcommands that takes a value (flags are left alone) a check that refuses
// an empty value, naming the option: `--save ""` is a usage error, never "no --save".
void refuse_empty_values(CLI::App& app);

// The range of a real-valued option; `float32`: the value is used as a 32-bit float, so it must neither
// overflow nor underflow one, and the range is checked on the float (0.99999999999 is 1.0f).
struct RealRange {
  double lo = -INFINITY;
  bool lo_open = false;
  double hi = INFINITY;
  bool hi_open = false;
  bool float32 = false;
};

// What is wrong with `text` as a decimal integer in [lo, hi] ("" when nothing; *value then holds it). The
// message reads "expected a whole number from LO to HI, got 'TEXT'" with the reason in brackets when it is
// not the range: other characters than an optional '-' and decimal digits (1e3, 0x10, spaces around it).
std::string integer_problem(const std::string& text, std::int64_t lo, std::int64_t hi, std::int64_t* value);
std::string unsigned_problem(const std::string& text, std::uint64_t hi, std::uint64_t* value);

// The same for a decimal real (digits, an optional point and exponent; no inf, nan, hex or spaces): it must be
// finite as a double, not underflow to 0 or a subnormal, and lie in `range`.
std::string real_problem(const std::string& text, const RealRange& range, double* value);

// The range check of real_problem on a value already converted; `shown` is what the message echoes.
std::string real_range_problem(double value, const std::string& shown, const RealRange& range);

// Validators that read an option's text with the routines above and hand CLI11 the canonical decimal text
// of the value (so CLI11's own conversion, which reads 0x10 as 16, never sees anything else).
CLI::Validator integer_in(std::int64_t lo, std::int64_t hi);
CLI::Validator unsigned_up_to(std::uint64_t hi);
CLI::Validator real_in(const RealRange& range);

// --max-bytes: decimal digits, optionally followed by a unit k, M, G or T (powers of 1024; "KB", "KiB" and
// "MiB" read the same; a lone "B" is bytes); at least 1 byte, at most 2^64 - 1.
CLI::Validator byte_size();

// The shortest text that reads back as `v` ("0.03", "1e-50").
std::string number_text(double v);

}  // namespace logreg::cli
