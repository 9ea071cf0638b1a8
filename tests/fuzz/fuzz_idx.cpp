// libFuzzer target for the IDX reader (include/logreg/idx.hpp). Each input is parsed as an image and a
// label file three ways: from memory (parse_idx_*), as a file as it is (load_idx_*: raw, or gzip when it
// starts with 1f 8b), and gzip-compressed into a file (the inflate loop on a valid stream). All three
// must agree, a success must describe exactly the input's bytes, and a rejection must be a DataError.
// The file paths run under a 64 MiB IdxLimits, so a gzip bomb is stopped, never allocated.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_target_support.hpp"
#include "logreg/errors.hpp"
#include "logreg/idx.hpp"

namespace {

using logreg::fuzz::invariant_failed;

constexpr std::uint64_t kMaxBytes = 64ull << 20;

std::vector<std::uint8_t> gzip_bytes(const std::uint8_t* data, std::size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    invariant_failed("deflateInit2");
  }
  std::vector<std::uint8_t> out(deflateBound(&zs, static_cast<uLong>(size)) + 32);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) invariant_failed("deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Runs `parse`; nullopt when it rejected the input with a DataError (anything else escapes: a finding).
template <class F>
auto attempt(F parse) -> std::optional<decltype(parse())> {
  try {
    return parse();
  } catch (const logreg::DataError&) {
    return std::nullopt;
  }
}

void check_images(const std::optional<logreg::ImageSet>& s, const std::vector<std::uint8_t>& bytes) {
  if (!s) return;
  const std::uint64_t n = static_cast<std::uint64_t>(s->count) * s->rows * s->cols;
  if (s->rows == 0 || s->cols == 0) invariant_failed("images: accepted an empty image shape");
  if (s->pixels.size() != n || bytes.size() != 16 + n) invariant_failed("images: pixel count != header");
  if (n > 0 && std::memcmp(s->pixels.data(), bytes.data() + 16, n) != 0) invariant_failed("images: pixels differ");
}

void check_labels(const std::optional<logreg::LabelSet>& s, const std::vector<std::uint8_t>& bytes) {
  if (!s) return;
  if (bytes.size() != 8 + s->labels.size()) invariant_failed("labels: label count != header");
  if (!s->labels.empty() && std::memcmp(s->labels.data(), bytes.data() + 8, s->labels.size()) != 0) {
    invariant_failed("labels: labels differ");
  }
}

bool same(const std::optional<logreg::ImageSet>& a, const std::optional<logreg::ImageSet>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->count == b->count && a->rows == b->rows && a->cols == b->cols && a->pixels == b->pixels);
}

bool same(const std::optional<logreg::LabelSet>& a, const std::optional<logreg::LabelSet>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || a->labels == b->labels;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace logreg;
  const std::vector<std::uint8_t> bytes(data, data + size);
  const IdxLimits limits{kMaxBytes};

  // 1. In memory.
  const auto images = attempt([&] { return parse_idx_images(bytes, "fuzz"); });
  const auto labels = attempt([&] { return parse_idx_labels(bytes, "fuzz"); });
  check_images(images, bytes);
  check_labels(labels, bytes);

  // 2. The bytes as a file: raw, or a (usually damaged) gzip stream when they start with 1f 8b.
  const std::string as_is = fuzz::write_scratch_file("as_is", data, size);
  const auto file_images = attempt([&] { return load_idx_images(as_is, limits); });
  const auto file_labels = attempt([&] { return load_idx_labels(as_is, limits); });
  const bool gzip_magic = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!gzip_magic && (!same(images, file_images) || !same(labels, file_labels))) {
    invariant_failed("raw file and in-memory parse disagree");
  }

  // 3. Gzip-compressed: must decode to exactly the in-memory result; a limit below the size must stop it.
  const std::vector<std::uint8_t> gz = gzip_bytes(data, size);
  const std::string gz_path = fuzz::write_scratch_file("compressed", gz.data(), gz.size());
  if (!same(images, attempt([&] { return load_idx_images(gz_path, limits); })) ||
      !same(labels, attempt([&] { return load_idx_labels(gz_path, limits); }))) {
    invariant_failed("gzip file and in-memory parse disagree");
  }
  if (size > 0 && attempt([&] { return read_maybe_gzip(gz_path, IdxLimits{size - 1}); })) {
    invariant_failed("gunzip went past IdxLimits::max_bytes");
  }

  // 4. What was accepted survives the writers (gzip) and reads back identically.
  if (images) {
    write_idx_images(fuzz::scratch_dir() + "/images.gz", *images, true);
    if (!same(images, attempt([&] { return load_idx_images(fuzz::scratch_dir() + "/images.gz", limits); }))) {
      invariant_failed("images: write/read round trip differs");
    }
  }
  if (labels) {
    write_idx_labels(fuzz::scratch_dir() + "/labels.gz", *labels, true);
    if (!same(labels, attempt([&] { return load_idx_labels(fuzz::scratch_dir() + "/labels.gz", limits); }))) {
      invariant_failed("labels: write/read round trip differs");
    }
  }
  return 0;
}
