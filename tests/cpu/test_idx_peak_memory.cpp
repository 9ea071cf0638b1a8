// Peak heap use while loading an IDX image file : the decoded file must not be held twice
// (a whole-file buffer, then a copy without the 16-byte header). This file replaces the global operator
// new/delete of the test executable with a malloc wrapper that counts live bytes while a test asks it to;
// every other test allocates through it unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "logreg/idx.hpp"
#include "test_support.hpp"

namespace {

constexpr std::size_t kPrefix = alignof(std::max_align_t);  // the block's size is kept in front of it
std::atomic<bool> g_counting{false};
std::atomic<std::int64_t> g_live{0};
std::atomic<std::int64_t> g_peak{0};

void count_alloc(std::size_t n) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  const std::int64_t live = g_live.fetch_add(static_cast<std::int64_t>(n)) + static_cast<std::int64_t>(n);
  std::int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
}

}  // namespace

void* operator new(std::size_t n) {
  void* base = std::malloc(n + kPrefix);
  if (base == nullptr) throw std::bad_alloc();
  *static_cast<std::size_t*>(base) = n;
  count_alloc(n);
  return static_cast<char*>(base) + kPrefix;
}

void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  char* base = static_cast<char*>(p) - kPrefix;
  if (g_counting.load(std::memory_order_relaxed)) {
    g_live.fetch_sub(static_cast<std::int64_t>(*reinterpret_cast<std::size_t*>(base)));
  }
  std::free(base);
}

void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

namespace logreg {
namespace {

// The most heap bytes live at once (counted from zero at the start) while f runs.
template <class F>
std::int64_t PeakHeapBytes(F&& f) {
  g_live = 0;
  g_peak = 0;
  g_counting = true;
  f();
  g_counting = false;
  return g_peak.load();
}

TEST(IdxPeakMemory, LoadingImagesHoldsThePixelsOnce) {
  test::TempDir dir;
  const ImageSet images = test::RandomImages(20000, 28, 28, 3);  // 15.7 MB of pixels
  const auto pixels = static_cast<std::int64_t>(images.pixels.size());
  write_idx_images(dir.file("raw"), images);
  write_idx_images(dir.file("gz"), images, /*gzip=*/true);
  for (const char* name : {"raw", "gz"}) {
    SCOPED_TRACE(name);
    ImageSet back;
    const std::int64_t peak = PeakHeapBytes([&] { back = load_idx_images(dir.file(name)); });
    ASSERT_EQ(back.pixels, images.pixels);
    // The pixels once, plus I/O buffers and zlib's state (under 1 MB); a second copy would be 2x. A .gz of up
    // to 64 MiB is also held compressed while libdeflate decodes it in one call (read, not mapped: a mapped
    // file truncated meanwhile would fault); these random pixels do not compress.
    const std::int64_t compressed = std::string(name) == "gz" ? static_cast<std::int64_t>(std::filesystem::file_size(dir.file(name))) : 0;
    EXPECT_LT(peak, pixels + compressed + (1 << 20)) << "peak " << peak << " bytes for " << pixels << " bytes of pixels";
    EXPECT_GE(peak, pixels);  // the counting works at all
  }
}

}  // namespace
}  // namespace logreg
