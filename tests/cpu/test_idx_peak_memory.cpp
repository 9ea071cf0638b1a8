// Peak heap use while loading an IDX image file : the decoded file must not be held twice
// (a whole-file buffer, then a copy without the 16-byte header), and a row window of a raw file costs its rows. This file replaces the global operator
// new/delete of the test executable with a malloc wrapper that counts live bytes while a test asks it to;
// every other test allocates through it unchanged.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

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

// An MPI rank's rows (load_idx_image_rows): the window's pixels and the sample rows' are the file's, the set
// keeps the file's count, and a raw file costs the window alone; a .gz is decoded whole, then cut.
TEST(IdxPeakMemory, ARowWindowHoldsItsRowsOnly) {
  test::TempDir dir;
  const ImageSet images = test::RandomImages(20000, 28, 28, 5);  // 15.7 MB of pixels
  write_idx_images(dir.file("raw"), images);
  write_idx_images(dir.file("gz"), images, /*gzip=*/true);
  const std::size_t dim = images.dim();
  auto request = [](std::uint32_t count) {
    EXPECT_EQ(count, 20000u);
    ImageRowRequest want;
    want.first = 15000;
    want.last = 17500;
    want.sample = {0, 9999, 19999};
    return want;
  };
  for (const char* name : {"raw", "gz"}) {
    SCOPED_TRACE(name);
    ImageSet back;
    std::vector<std::uint8_t> sample;
    const std::int64_t peak = PeakHeapBytes([&] { back = load_idx_image_rows(dir.file(name), request, &sample); });
    EXPECT_EQ(back.count, 20000u);
    EXPECT_EQ(back.first, 15000u);
    ASSERT_EQ(back.loaded(), 2500u);
    EXPECT_TRUE(back.holds(15000) && back.holds(17499) && !back.holds(14999) && !back.holds(17500));
    EXPECT_TRUE(std::equal(back.image(15000), back.image(15000) + 2500 * dim, images.image(15000)));
    ASSERT_EQ(sample.size(), 3 * dim);
    EXPECT_TRUE(std::equal(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(dim), images.image(0)));
    EXPECT_TRUE(std::equal(sample.end() - static_cast<std::ptrdiff_t>(dim), sample.end(), images.image(19999)));
    if (std::string(name) == "raw") {
      EXPECT_LT(peak, static_cast<std::int64_t>(2500 * dim + (1 << 16))) << "peak " << peak << " bytes for 2,500 rows";
    }
  }
  auto past_the_end = [](std::uint32_t count) {
    ImageRowRequest want;
    want.first = 0;
    want.last = count + 1;
    return want;
  };
  try {
    load_idx_image_rows(dir.file("raw"), past_the_end, nullptr);
    FAIL() << "a window past the file's rows was read";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("asked for, but the file holds 20000 images"), std::string::npos) << e.what();
  }
}

// A gzip bomb: an IDX header for 100 images (78,416 bytes) followed by 100 MB of zeros, compressed to about
// 100 KB. The trailer says 100 MB; nothing that large may be allocated before the reader sees that the header
// promises 78 KB (it stops at the first byte past them).
TEST(IdxPeakMemory, AGzipBombAllocatesWhatItsHeaderDeclares) {
  test::TempDir dir;
  const std::string bomb = dir.file("bomb-idx3-ubyte.gz");
  {
    gzFile gz = gzopen(bomb.c_str(), "wb1");
    ASSERT_NE(gz, nullptr);
    const unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28};
    ASSERT_EQ(gzwrite(gz, header, sizeof header), static_cast<int>(sizeof header));
    const std::vector<unsigned char> zeros(1 << 20, 0);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(gzwrite(gz, zeros.data(), static_cast<unsigned>(zeros.size())), 1 << 20);
    ASSERT_EQ(gzclose(gz), Z_OK);
  }
  ASSERT_LT(std::filesystem::file_size(bomb), 1u << 20);
  std::string message;
  const std::int64_t peak = PeakHeapBytes([&] {
    try {
      load_idx_images(bomb);
    } catch (const IdxError& e) {
      message = e.what();
    }
  });
  EXPECT_NE(message.find("runs past the 78416 bytes the IDX header promises"), std::string::npos) << message;
  EXPECT_LT(peak, 4 << 20) << "peak " << peak << " bytes for a header that declares 78,416";
}

}  // namespace
}  // namespace logreg
