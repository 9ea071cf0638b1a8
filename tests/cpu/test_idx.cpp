// Tests of the IDX reader and writer (src/data/idx.cpp): raw and gzip round trips, one test per
// malformed input (each checks the exception type, the file name and the key words), and the image
// renderer (src/data/image_render.cpp): terminal drawing and a PNG read back with libpng.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "logreg/idx.hpp"
#include "logreg/image_render.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::TempDir;

std::vector<std::uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// An IDX header: magic 00 00, `type`, ndims = dims.size(), then big-endian dims.
std::vector<std::uint8_t> Header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  std::vector<std::uint8_t> h = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<std::uint8_t>(d >> s));
  }
  return h;
}

std::vector<std::uint8_t> ImageFileBytes(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  std::vector<std::uint8_t> b = Header(0x08, {count, rows, cols});
  b.resize(b.size() + static_cast<std::size_t>(count) * rows * cols, 7);
  return b;
}

// Passes when `f` throws exactly an E (or subclass) whose what() contains every word.
using test::ThrowsWith;

TEST(IdxReader, RoundTripsRawImagesAndLabels) {
  TempDir dir;
  const ImageSet images = test::RandomImages(5, 4, 3, 1);
  const LabelSet labels = test::RandomLabels(5, 10, 1);
  write_idx_images(dir.file("img"), images);
  write_idx_labels(dir.file("lab"), labels);
  EXPECT_EQ(ReadBytes(dir.file("img")).size(), 16u + 5 * 4 * 3);
  const ImageSet back = load_idx_images(dir.file("img"));
  EXPECT_EQ(back.path, dir.file("img"));
  EXPECT_EQ(back.count, 5u);
  EXPECT_EQ(back.rows, 4u);
  EXPECT_EQ(back.cols, 3u);
  EXPECT_EQ(back.pixels, images.pixels);
  EXPECT_EQ(load_idx_labels(dir.file("lab")).labels, labels.labels);
}

TEST(IdxReader, RoundTripsGzipImagesAndLabels) {
  TempDir dir;
  const ImageSet images = test::RandomImages(7, 28, 28, 2);
  const LabelSet labels = test::RandomLabels(7, 10, 2);
  write_idx_images(dir.file("img.gz"), images, /*gzip=*/true);
  write_idx_labels(dir.file("lab.gz"), labels, /*gzip=*/true);
  const std::vector<std::uint8_t> raw = ReadBytes(dir.file("img.gz"));
  ASSERT_GE(raw.size(), 2u);
  EXPECT_EQ(raw[0], 0x1f);
  EXPECT_EQ(raw[1], 0x8b);
  EXPECT_EQ(load_idx_images(dir.file("img.gz")).pixels, images.pixels);
  EXPECT_EQ(load_idx_labels(dir.file("lab.gz")).labels, labels.labels);
}

TEST(IdxReader, DetectsGzipByMagicNotName) {
  TempDir dir;
  const ImageSet images = test::RandomImages(3, 5, 5, 3);
  write_idx_images(dir.file("images-no-suffix"), images, /*gzip=*/true);
  write_idx_images(dir.file("raw-but-named.gz"), images, /*gzip=*/false);
  EXPECT_EQ(load_idx_images(dir.file("images-no-suffix")).pixels, images.pixels);
  EXPECT_EQ(load_idx_images(dir.file("raw-but-named.gz")).pixels, images.pixels);
}

TEST(IdxReader, AcceptsMultiMemberGzip) {  // what `cat a.gz b.gz` produces; gunzip accepts it
  TempDir dir;
  const std::vector<std::uint8_t> bytes = ImageFileBytes(2, 3, 3);
  const std::vector<std::uint8_t> first(bytes.begin(), bytes.begin() + 10), second(bytes.begin() + 10, bytes.end());
  for (const auto& [name, part] : {std::pair{"a.gz", first}, std::pair{"b.gz", second}}) {
    gzFile gz = gzopen(dir.file(name).c_str(), "wb");
    ASSERT_NE(gz, nullptr);
    ASSERT_EQ(gzwrite(gz, part.data(), static_cast<unsigned>(part.size())), static_cast<int>(part.size()));
    ASSERT_EQ(gzclose(gz), Z_OK);
  }
  std::vector<std::uint8_t> joined = ReadBytes(dir.file("a.gz")), b = ReadBytes(dir.file("b.gz"));
  joined.insert(joined.end(), b.begin(), b.end());
  WriteBytes(dir.file("joined"), joined);
  EXPECT_EQ(read_maybe_gzip(dir.file("joined")), bytes);
}

TEST(IdxReader, ParsesFromMemory) {
  const ImageSet s = parse_idx_images(ImageFileBytes(2, 2, 2), "mem");
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.pixels.size(), 8u);
  EXPECT_TRUE(ThrowsWith<IdxError>([] { parse_idx_labels({0, 0, 8, 1, 0, 0, 0, 2, 1}, "mem-labels"); },
                                   {"mem-labels", "truncated", "promises 2 data bytes", "file has 1"}));
}

TEST(IdxReader, ReportsMissingFile) {
  TempDir dir;
  const std::string path = dir.file("nope-idx3-ubyte");
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_idx_images(path); }, {path, "cannot open", "No such file"}));
}

TEST(IdxReader, RejectsDirectory) {
  TempDir dir;
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_idx_images(dir.path()); }, {dir.path(), "is a directory"}));
}

TEST(IdxReader, RejectsEmptyFile) {
  TempDir dir;
  WriteBytes(dir.file("empty"), {});
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("empty")); }, {dir.file("empty"), "empty file"}));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_labels(dir.file("empty")); }, {dir.file("empty"), "empty file"}));
}

TEST(IdxReader, RejectsTruncatedHeader) {
  TempDir dir;
  std::vector<std::uint8_t> b = ImageFileBytes(1, 2, 2);
  b.resize(10);  // magic, type, ndims, count and half of rows
  WriteBytes(dir.file("short"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("short")); },
                                   {dir.file("short"), "truncated header", "expected 16", "file has 10"}));
  WriteBytes(dir.file("tiny"), {0, 0});
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_labels(dir.file("tiny")); },
                                   {dir.file("tiny"), "truncated header", "2-byte file"}));
}

TEST(IdxReader, RejectsBadMagic) {
  TempDir dir;
  std::vector<std::uint8_t> b = ImageFileBytes(1, 2, 2);
  b[0] = 0x50;  // "P5": a PGM, say
  b[1] = 0x35;
  WriteBytes(dir.file("pgm"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("pgm")); },
                                   {dir.file("pgm"), "magic at byte 0", "expected 00 00", "found 0x50 0x35"}));
}

TEST(IdxReader, RejectsWrongTypeByte) {
  TempDir dir;
  std::vector<std::uint8_t> b = ImageFileBytes(1, 2, 2);
  b[2] = 0x0D;
  WriteBytes(dir.file("floats"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("floats")); },
                                   {dir.file("floats"), "data type at byte 2", "expected 0x08", "found 0x0D",
                                    "float32"}));
}

TEST(IdxReader, RejectsWrongNdims) {
  TempDir dir;
  write_idx_labels(dir.file("labels"), test::RandomLabels(4, 10, 4));
  write_idx_images(dir.file("images"), test::RandomImages(4, 2, 2, 4));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("labels")); },
                                   {dir.file("labels"), "dimensions at byte 3", "expected 3", "found 1",
                                    "label file"}));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_labels(dir.file("images")); },
                                   {dir.file("images"), "dimensions at byte 3", "expected 1", "found 3",
                                    "image file"}));
}

TEST(IdxReader, RejectsZeroRowsOrCols) {
  TempDir dir;
  WriteBytes(dir.file("zero-rows"), Header(0x08, {1, 0, 28}));
  WriteBytes(dir.file("zero-cols"), Header(0x08, {1, 28, 0}));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("zero-rows")); },
                                   {dir.file("zero-rows"), "rows at byte 8", "expected > 0", "found 0"}));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("zero-cols")); },
                                   {dir.file("zero-cols"), "columns at byte 12", "expected > 0", "found 0"}));
}

TEST(IdxReader, RejectsTruncatedData) {
  TempDir dir;
  std::vector<std::uint8_t> b = ImageFileBytes(3, 4, 4);
  b.resize(b.size() - 5);
  WriteBytes(dir.file("cut"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("cut")); },
                                   {dir.file("cut"), "truncated: header promises 48 data bytes", "file has 43"}));
}

TEST(IdxReader, RejectsTrailingBytes) {
  TempDir dir;
  std::vector<std::uint8_t> b = Header(0x08, {3});
  b.insert(b.end(), {1, 2, 3, 4, 5});
  WriteBytes(dir.file("long"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_labels(dir.file("long")); },
                                   {dir.file("long"), "trailing bytes", "promises 3 data bytes", "file has 5"}));
}

// A well-formed gzip member around a bad IDX file: the one-call gunzip (libdeflate) declines it and the
// streaming path names the problem, as for any other .gz.
void WriteGzip(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(gz), Z_OK);
}

TEST(IdxReader, GzipOfAFileShorterOrLongerThanItsHeaderPromises) {
  TempDir dir;
  std::vector<std::uint8_t> cut = ImageFileBytes(3, 4, 4);
  cut.resize(cut.size() - 5);
  WriteGzip(dir.file("cut.gz"), cut);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("cut.gz")); },
                                   {dir.file("cut.gz"), "truncated: header promises 48 data bytes", "file has 43"}));
  std::vector<std::uint8_t> longer = Header(0x08, {3});
  longer.insert(longer.end(), {1, 2, 3, 4, 5});
  WriteGzip(dir.file("long.gz"), longer);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_labels(dir.file("long.gz")); },
                                   {dir.file("long.gz"), "runs past the 11 bytes the IDX header promises"}));
  std::vector<std::uint8_t> good = ImageFileBytes(3, 4, 4);
  WriteGzip(dir.file("good.gz"), good);
  EXPECT_EQ(read_maybe_gzip(dir.file("good.gz")), good);
  EXPECT_EQ(load_idx_images(dir.file("good.gz")).count, 3u);
}

TEST(IdxReader, RejectsOverflowingDims) {
  TempDir dir;
  WriteBytes(dir.file("huge"), Header(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("huge")); },
                                   {dir.file("huge"), "4294967295 images of 4294967295x4294967295", "overflows"}));
}

TEST(IdxReader, RejectsHeaderClaimingMoreThanLimit) {
  TempDir dir;
  WriteBytes(dir.file("claims"), Header(0x08, {1000, 28, 28}));
  IdxLimits limits;
  limits.max_bytes = 10000;
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("claims"), limits); },
                                   {dir.file("claims"), "promises 784000 data bytes", "limit of 10000 bytes"}));
  WriteBytes(dir.file("claims-labels"), Header(0x08, {20000}));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_labels(dir.file("claims-labels"), limits); },
                                   {dir.file("claims-labels"), "promises 20000 data bytes", "limit of 10000"}));
}

TEST(IdxReader, RejectsRawFileOverLimit) {
  TempDir dir;
  write_idx_images(dir.file("big"), test::RandomImages(10, 28, 28, 5));
  IdxLimits limits;
  limits.max_bytes = 1000;
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("big"), limits); },
                                   {dir.file("big"), "file size 7856 bytes", "limit of 1000 bytes"}));
}

TEST(IdxReader, RejectsGzipBomb) {
  TempDir dir;
  ImageSet zeros;
  zeros.count = 10000;
  zeros.rows = 28;
  zeros.cols = 28;
  zeros.pixels.assign(zeros.count * zeros.dim(), 0);  // 7.8 MB of zeros deflate to a few KB
  write_idx_images(dir.file("bomb"), zeros, /*gzip=*/true);
  ASSERT_LT(ReadBytes(dir.file("bomb")).size(), 100000u);
  IdxLimits limits;
  limits.max_bytes = 1 << 20;
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("bomb"), limits); },
                                   {dir.file("bomb"), "decompressed size exceeds the limit of 1048576 bytes"}));
}

// --max-bytes is the largest decoded size accepted: a file of exactly that many bytes loads, one byte less
// is refused, both while gunzipping and for a raw file.
TEST(IdxReader, MaxBytesBoundaryIsInclusive) {
  TempDir dir;
  const ImageSet images = test::RandomImages(10, 28, 28, 9);  // 16 + 7840 = 7856 bytes decoded
  write_idx_images(dir.file("img.gz"), images, /*gzip=*/true);
  write_idx_images(dir.file("img"), images);
  IdxLimits limits;
  limits.max_bytes = 7856;
  EXPECT_EQ(load_idx_images(dir.file("img.gz"), limits).pixels, images.pixels);
  EXPECT_EQ(load_idx_images(dir.file("img"), limits).pixels, images.pixels);
  limits.max_bytes = 7855;
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("img.gz"), limits); },
                                   {dir.file("img.gz"), "decompressed size exceeds the limit of 7855 bytes"}));
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("img"), limits); },
                                   {dir.file("img"), "file size 7856 bytes exceeds the limit of 7855"}));

  // The same boundary on the streaming path: a file of two gzip members (the one-call path takes one member).
  const std::vector<std::uint8_t> raw = ReadBytes(dir.file("img"));
  for (const std::size_t cut : {std::size_t{16}, raw.size() / 2}) {
    const std::string two = dir.file("two.gz");
    std::filesystem::remove(two);
    for (const auto& [from, to] : {std::pair<std::size_t, std::size_t>{0, cut}, {cut, raw.size()}}) {
      gzFile gz = gzopen(two.c_str(), "ab");
      ASSERT_NE(gz, nullptr);
      ASSERT_EQ(gzwrite(gz, raw.data() + from, static_cast<unsigned>(to - from)), static_cast<int>(to - from));
      ASSERT_EQ(gzclose(gz), Z_OK);
    }
    limits.max_bytes = 7856;
    EXPECT_EQ(load_idx_images(two, limits).pixels, images.pixels) << "members split at " << cut;
    limits.max_bytes = 7855;
    EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(two, limits); },
                                     {two, "decompressed size exceeds the limit of 7855 bytes"}))
        << "members split at " << cut;
  }
}

TEST(IdxReader, RejectsCorruptGzip) {
  TempDir dir;
  write_idx_images(dir.file("img.gz"), test::RandomImages(20, 28, 28, 6), /*gzip=*/true);
  std::vector<std::uint8_t> b = ReadBytes(dir.file("img.gz"));
  ASSERT_GT(b.size(), 200u);
  for (std::size_t i = 100; i < 140; ++i) b[i] ^= 0x5A;
  WriteBytes(dir.file("img.gz"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("img.gz")); },
                                   {dir.file("img.gz"), "corrupt gzip stream"}));
}

TEST(IdxReader, RejectsTruncatedGzip) {
  TempDir dir;
  write_idx_images(dir.file("img.gz"), test::RandomImages(20, 28, 28, 7), /*gzip=*/true);
  std::vector<std::uint8_t> b = ReadBytes(dir.file("img.gz"));
  b.resize(b.size() / 2);
  WriteBytes(dir.file("img.gz"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_images(dir.file("img.gz")); },
                                   {dir.file("img.gz"), "truncated gzip stream"}));
}

TEST(IdxReader, RejectsGarbageAfterGzip) {
  TempDir dir;
  write_idx_labels(dir.file("lab.gz"), test::RandomLabels(20, 10, 8), /*gzip=*/true);
  std::vector<std::uint8_t> b = ReadBytes(dir.file("lab.gz"));
  const std::size_t end = b.size();
  b.insert(b.end(), {'j', 'u', 'n', 'k'});
  WriteBytes(dir.file("lab.gz"), b);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_idx_labels(dir.file("lab.gz")); },
                                   {dir.file("lab.gz"), "at byte " + std::to_string(end), "trailing byte"}));
}

TEST(IdxWriter, ReplacesExistingFileAndLeavesNoTemporaries) {
  TempDir dir;
  write_idx_labels(dir.file("lab"), test::RandomLabels(100, 10, 9));
  const LabelSet small = test::RandomLabels(3, 10, 10);
  write_idx_labels(dir.file("lab"), small, /*gzip=*/true);
  EXPECT_EQ(load_idx_labels(dir.file("lab")).labels, small.labels);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(IdxWriter, ThrowsResourceErrorWhenDirectoryIsMissing) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/lab");
  EXPECT_TRUE(ThrowsWith<ResourceError>([&] { write_idx_labels(path, test::RandomLabels(3, 10, 11)); }, {path}));
}

// ---- image rendering ---------------------------------------------------------------------------

TEST(ImageRender, TerminalDrawingHasOneLinePerRow) {
  const ImageSet images = test::RandomImages(2, 28, 28, 12);
  const std::string art = render_terminal(images, 1);
  std::size_t lines = 0, start = 0;
  for (std::size_t nl = art.find('\n'); nl != std::string::npos; start = nl + 1, nl = art.find('\n', start)) {
    ++lines;
    // 28 pixels x 2 glyphs each; a space is 1 byte, a shade block 3 bytes in UTF-8.
    const std::string line = art.substr(start, nl - start);
    std::size_t glyphs = 0;
    for (unsigned char c : line) glyphs += (c & 0xC0) != 0x80;
    EXPECT_EQ(glyphs, 56u);
  }
  EXPECT_EQ(lines, 28u);
  EXPECT_EQ(start, art.size());
  EXPECT_THROW(render_terminal(images, 2), std::out_of_range);
}

TEST(ImageRender, TerminalShadesFollowIntensity) {
  ImageSet s;
  s.count = 1;
  s.rows = 1;
  s.cols = 5;
  s.pixels = {0, 60, 120, 180, 255};
  EXPECT_EQ(render_terminal(s, 0), "  ░░▒▒▓▓██\n");
}

TEST(ImageRender, WritesPngReadableByLibpng) {
  TempDir dir;
  const ImageSet images = test::RandomImages(3, 28, 28, 13);
  const std::string path = dir.file("sample.png");
  const int scale = 4;
  write_png_gray(path, images, 2, scale);

  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_file(&image, path.c_str())) << image.message;
  EXPECT_EQ(image.width, 28u * scale);
  EXPECT_EQ(image.height, 28u * scale);
  image.format = PNG_FORMAT_GRAY;
  std::vector<std::uint8_t> pixels(PNG_IMAGE_SIZE(image));
  ASSERT_TRUE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) << image.message;
  const std::uint8_t* src = images.image(2);
  for (std::size_t y = 0; y < image.height; ++y) {
    for (std::size_t x = 0; x < image.width; ++x) {
      ASSERT_EQ(pixels[y * image.width + x], src[(y / scale) * 28 + x / scale]) << "at (" << x << ", " << y << ")";
    }
  }
}

TEST(ImageRender, PngWriteFailureThrowsResourceError) {
  TempDir dir;
  const ImageSet images = test::RandomImages(1, 28, 28, 14);
  const std::string path = dir.file("missing-dir/sample.png");
  EXPECT_TRUE(ThrowsWith<ResourceError>([&] { write_png_gray(path, images, 0, 2); }, {path}));
  EXPECT_THROW(write_png_gray(dir.file("x.png"), images, 0, 0), std::invalid_argument);
  EXPECT_THROW(write_png_gray(dir.file("x.png"), images, 1, 2), std::out_of_range);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace logreg
