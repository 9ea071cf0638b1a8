// The feature-file readers: .npz (stored and deflated members, the .npy header, labels mapped to sorted
// classes, a window of x_train's rows) and svmlight text (0- and 1-based indices, qid, comments), and the messages malformed files get.
#include <gtest/gtest.h>

#include <cstring>

#include "feature_files.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/npz_reader.hpp"
#include "logreg/svmlight_reader.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::NpyEntry;
using test::NpzBytes;
using test::RawBytes;
using test::TempDir;
using test::ThrowsWith;
using test::WriteText;

std::vector<double> Row(const FeatureMatrix& m, std::size_t i) {
  std::vector<double> x(m.cols);
  m.row_to_double(i, x.data());
  return x;
}

std::vector<std::uint8_t> Bytes(const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); }

TEST(Npz, StoredFloat64ArraysWithAnyIntegerLabels) {
  TempDir dir;
  const std::vector<double> x = {0.5, -1.0, 2.0, 3.0, 4.0, 1e300};
  const std::vector<std::int64_t> y = {5, -1, 5};
  WriteText(dir.file("d.npz"), NpzBytes({{"x_train", "<f8", {3, 2}, RawBytes(x)}, {"y_train", "<i8", {3}, RawBytes(y)}},
                                        false));
  const FeatureData d = load_feature_data(dir.file("d.npz"), "");
  EXPECT_EQ(d.format, "npz");
  EXPECT_EQ(d.train_x.rows, 3u);
  EXPECT_EQ(d.train_x.cols, 2u);
  EXPECT_EQ(d.train_x.dtype, FeatureDtype::kFloat64);
  EXPECT_FALSE(d.has_test);
  EXPECT_EQ(d.classes, (std::vector<std::int64_t>{-1, 5}));
  EXPECT_EQ(d.train_y, (std::vector<std::uint32_t>{1, 0, 1}));
  EXPECT_EQ(Row(d.train_x, 2), (std::vector<double>{4.0, 1e300}));
}

TEST(Npz, DeflatedUint8ImagesFlattenedWithTestSplit) {
  TempDir dir;
  const std::vector<std::uint8_t> x = {0, 255, 51, 102, 1, 2, 3, 4};  // (2, 2, 2): two 2x2 images
  const std::vector<std::uint8_t> y = {7, 9};
  const std::vector<std::uint8_t> xt = {255, 0, 0, 0};
  const std::vector<std::uint16_t> yt = {9};
  WriteText(dir.file("m.npz"), NpzBytes({{"x_train", "|u1", {2, 2, 2}, RawBytes(x)},
                                         {"y_train", "|u1", {2}, RawBytes(y)},
                                         {"x_test", "|u1", {1, 2, 2}, RawBytes(xt)},
                                         {"y_test", "<u2", {1}, RawBytes(yt)}},
                                        true));
  const FeatureData d = load_feature_data(dir.file("m.npz"), "");
  EXPECT_EQ(d.train_x.cols, 4u);
  EXPECT_EQ(d.train_x.dtype, FeatureDtype::kUint8);
  EXPECT_EQ(Row(d.train_x, 0), (std::vector<double>{0.0, 1.0, 0.2, 0.4}));
  ASSERT_TRUE(d.has_test);
  EXPECT_EQ(d.test_path, dir.file("m.npz"));
  EXPECT_EQ(d.test_y, (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(d.classes, (std::vector<std::int64_t>{7, 9}));
}

TEST(Npz, CapitalXAndFloat32) {
  TempDir dir;
  const std::vector<float> x = {1.5f, 2.5f};
  const std::vector<std::int32_t> y = {0, 1};
  WriteText(dir.file("c.npz"), NpzBytes({{"X_train", "<f4", {2, 1}, RawBytes(x)}, {"y_train", "<i4", {2}, RawBytes(y)}},
                                        false));
  const FeatureData d = load_feature_data(dir.file("c.npz"), "");
  EXPECT_EQ(d.train_x.dtype, FeatureDtype::kFloat32);
  EXPECT_EQ(Row(d.train_x, 1), (std::vector<double>{2.5}));
}

// A window of x_train's rows (an MPI rank's): rows and labels stay the file's, only the window's values are held
// and they are the full read's; from a stored member and from a deflated one whose stream spans many chunks.
TEST(Npz, RowWindowKeepsOnlyItsRows) {
  TempDir dir;
  const std::size_t n = 1500, D = 600;
  std::vector<float> x(n * D);
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>((k * 2654435761u) % 1000) / 7.0f;
  std::vector<std::int64_t> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::int64_t>(i % 3);
  const std::vector<float> xt(2 * D, 1.0f);
  const std::vector<std::int64_t> yt = {0, 2};
  for (const bool deflate : {false, true}) {
    const std::string path = dir.file(deflate ? "w_deflated.npz" : "w_stored.npz");
    WriteText(path, NpzBytes({{"x_train", "<f4", {n, D}, RawBytes(x)},
                              {"y_train", "<i8", {n}, RawBytes(y)},
                              {"x_test", "<f4", {2, D}, RawBytes(xt)},
                              {"y_test", "<i8", {2}, RawBytes(yt)}},
                             deflate));
    const FeatureData all = load_feature_data(path, "");
    std::size_t asked = 0;
    const FeatureData part = load_feature_data(path, "", {}, [&](std::size_t rows) {
      asked = rows;
      return std::pair<std::size_t, std::size_t>{563, 1126};
    });
    EXPECT_EQ(asked, n);
    EXPECT_EQ(part.train_x.rows, n);
    EXPECT_EQ(part.train_x.first, 563u);
    EXPECT_EQ(part.train_x.loaded_rows(), 563u);
    EXPECT_FALSE(part.train_x.holds_all_rows());
    EXPECT_TRUE(all.train_x.holds_all_rows());
    EXPECT_EQ(part.train_x.dense.size(), 563u * D * 4);
    EXPECT_EQ(part.train_y, all.train_y);
    EXPECT_EQ(part.test_x.dense, all.test_x.dense);
    EXPECT_EQ(part.train_x.source_crc32, all.train_x.source_crc32);
    for (const std::size_t i : {std::size_t{563}, std::size_t{800}, std::size_t{1125}}) {
      EXPECT_EQ(Row(part.train_x, i), Row(all.train_x, i)) << "row " << i;
    }
  }
}

TEST(Npz, RowWindowOfADeflatedMemberChecksItsCrc) {
  TempDir dir;
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};
  const std::vector<std::int64_t> y = {0, 1, 0};
  std::string bytes = NpzBytes({{"x_train", "<f8", {3, 2}, RawBytes(x)}, {"y_train", "<i8", {3}, RawBytes(y)}}, true);
  const std::size_t central = bytes.find(std::string("PK\x01\x02", 4));  // x_train's central entry
  ASSERT_NE(central, std::string::npos);
  bytes[central + 16] = static_cast<char>(bytes[central + 16] ^ 1);  // its CRC-32, as the reader takes it
  WriteText(dir.file("crc.npz"), bytes);
  const FeatureRowWindow window = [](std::size_t) { return std::pair<std::size_t, std::size_t>{1, 2}; };
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { load_feature_data(dir.file("crc.npz"), "", {}, window); },
                                          {"crc.npz", "x_train.npy", "CRC-32 mismatch"}));
}

// The bytes of a one-array .npy with this header text (padded by npy_bytes' rule is not used: exact text).
std::string NpyWithHeader(const std::string& header, const std::string& data) {
  std::string h = header + "\n";
  std::string out("\x93NUMPY\x01\x00", 8);
  test::PutU16(out, static_cast<std::uint32_t>(h.size()));
  return out + h + data;
}

TEST(Npy, HeaderIsReadStrictly) {
  const std::string f8(16, '\0');
  auto parse = [](const std::string& npy) { return parse_npy(reinterpret_cast<const std::uint8_t*>(npy.data()), npy.size(), "a.npy"); };
  EXPECT_EQ(parse(NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8)).shape,
            (std::vector<std::uint64_t>{2}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse(NpyWithHeader("{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }", f8)); },
                                    {"a.npy", "fortran_order", "expected False"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse(NpyWithHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", f8)); },
                                    {"descr", "pickle", "refused"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse(NpyWithHeader("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", f8)); },
                                    {"descr", "big-endian"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse(NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f8)); },
                                    {"promise 24 bytes, found 16"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse(NpyWithHeader("{'descr': '<f8', 'shape': (2,), }", f8)); },
                                    {"'descr', 'fortran_order' and 'shape'"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse(NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", f8)); },
                                    {"expected a key"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] { parse(NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", f8)); },
      {"overflows"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("\x93NUMPX\x01\x00\x00\x00"); }, {"magic"}));
}

class NpzErrors : public ::testing::Test {
 protected:
  std::string Write(const std::string& bytes) {
    WriteText(dir_.file("e.npz"), bytes);
    return dir_.file("e.npz");
  }
  std::string Good() {
    return NpzBytes({{"x_train", "<f8", {2, 1}, RawBytes(std::vector<double>{1.0, 2.0})},
                     {"y_train", "<i8", {2}, RawBytes(std::vector<std::int64_t>{0, 1})}},
                    true);
  }
  TempDir dir_;
};

TEST_F(NpzErrors, DamagedArchives) {
  std::string z = Good();
  const std::string truncated = Write(z.substr(0, z.size() - 10));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_feature_data(truncated, ""); }, {truncated, "end-of-central-directory"}));
  // A flipped byte in the first member's compressed data: the deflate stream or the CRC catches it.
  z[40] = static_cast<char>(z[40] ^ 0x55);
  const std::string damaged = Write(z);
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_feature_data(damaged, ""); }, {damaged, "x_train.npy"}));
}

TEST_F(NpzErrors, SizesAreBoundedBeforeAllocation) {
  std::string z = Good();
  // The first central entry's uncompressed size (offset 24 in the entry) set to 2^28: more than deflate can
  // expand the member's few bytes to, and more than the limit below.
  const std::size_t cd = z.rfind(std::string("PK\x01\x02", 4), z.rfind(std::string("PK\x01\x02", 4)) - 1);
  ASSERT_NE(cd, std::string::npos);
  std::string lying = z;
  lying[cd + 24] = lying[cd + 25] = lying[cd + 26] = '\0';
  lying[cd + 27] = '\x10';
  const std::string path = Write(lying);
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_feature_data(path, "", IdxLimits{1u << 20}); }, {path, "limit", "--max-bytes"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_feature_data(path, ""); }, {path, "more than deflate can expand to"}));
  const std::string good = Write(Good());
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_feature_data(good, "", IdxLimits{100}); }, {"over the limit of 100 bytes"}));
}

TEST_F(NpzErrors, ArraysThatCannotBeUsed) {
  auto load = [&](const std::vector<NpyEntry>& arrays) {
    const std::string p = Write(NpzBytes(arrays, false));
    load_feature_data(p, "");
  };
  const std::string x2 = RawBytes(std::vector<double>{1.0, 2.0});
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load({{"x_train", "<f8", {2, 1}, x2}}); }, {"x_train and y_train", "found x_train.npy"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] { load({{"x_train", "<f8", {2, 1}, x2}, {"y_train", "<f8", {2}, x2}}); }, {"y_train.npy", "integer labels", "'<f8'"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] { load({{"x_train", "<f8", {2, 1}, x2}, {"y_train", "|u1", {3}, std::string("\0\1\1", 3)}}); },
      {"holds 3 labels but the features have 2 rows"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] { load({{"x_train", "<f8", {2}, x2}, {"y_train", "|u1", {2}, std::string("\0\1", 2)}}); }, {"2 or more dimensions"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] { load({{"x_train", "<i8", {2, 1}, x2}, {"y_train", "|u1", {2}, std::string("\0\1", 2)}}); },
      {"expected uint8, float32 or float64 features, found '<i8'"}));
  const std::string nan = RawBytes(std::vector<double>{1.0, NAN});
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] { load({{"x_train", "<f8", {2, 1}, nan}, {"y_train", "|u1", {2}, std::string("\0\1", 2)}}); },
      {"row 1, feature 0", "finite", "NaN"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] { load({{"x_train", "<f8", {2, 1}, x2}, {"y_train", "|u1", {2}, std::string("\3\3", 2)}}); },
      {"every training label is 3", "at least 2"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] {
        load({{"x_train", "<f8", {2, 1}, x2}, {"y_train", "|u1", {2}, std::string("\0\1", 2)},
              {"x_test", "<f8", {1, 1}, RawBytes(std::vector<double>{1.0})}, {"y_test", "|u1", {1}, std::string("\2", 1)}});
      },
      {"label at row 0 is 2", "not one of the 2 training labels"}));
  EXPECT_TRUE(ThrowsWith<DataError>(
      [&] {
        load({{"x_train", "<f8", {2, 1}, x2}, {"X_train", "<f8", {2, 1}, x2}, {"y_train", "|u1", {2}, std::string("\0\1", 2)}});
      },
      {"both x_train.npy and X_train.npy"}));
}

TEST(Svmlight, OneBasedIndicesQidAndComments) {
  const SvmlightRows r = parse_svmlight(Bytes("# header comment\n3 qid:7 1:0.5 4:-2 # trailing\n\n-1 2:1e-3\r\n+3\n"), "s.txt");
  EXPECT_EQ(r.y.values, (std::vector<std::int64_t>{3, -1, 3}));
  EXPECT_EQ(r.x.rows, 3u);
  EXPECT_EQ(r.min_index, 1u);
  SvmlightRows shifted = r;
  EXPECT_FALSE(align_svmlight_indices({&shifted}));
  EXPECT_EQ(shifted.x.cols, 4u);
  EXPECT_EQ(Row(shifted.x, 0), (std::vector<double>{0.5, 0.0, 0.0, -2.0}));
  EXPECT_EQ(Row(shifted.x, 1), (std::vector<double>{0.0, 1e-3, 0.0, 0.0}));
  EXPECT_EQ(Row(shifted.x, 2), (std::vector<double>{0.0, 0.0, 0.0, 0.0}));
}

TEST(Svmlight, ZeroBasedWhenAnyFileHasIndexZero) {
  SvmlightRows train = parse_svmlight(Bytes("1 1:1 2:2\n2 3:3\n"), "train");
  SvmlightRows test = parse_svmlight(Bytes("1 0:9 5:1\n"), "test");
  EXPECT_TRUE(align_svmlight_indices({&train, &test}));
  EXPECT_EQ(train.x.cols, 6u);
  EXPECT_EQ(test.x.cols, 6u);
  EXPECT_EQ(Row(train.x, 0), (std::vector<double>{0, 1, 2, 0, 0, 0}));
  EXPECT_EQ(Row(test.x, 0), (std::vector<double>{9, 0, 0, 0, 0, 1}));
}

TEST(Svmlight, MalformedLinesNameLineByteAndField) {
  auto parse = [](const std::string& s) { parse_svmlight(Bytes(s), "s.txt"); };
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 1:1\n1 3:1 2:1\n"); },
                                    {"s.txt", "line 2", "byte 12", "feature index", "increasing order", "found 2"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 1:1 1:2\n"); }, {"line 1", "increasing order"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1.5 1:1\n"); }, {"line 1", "label", "whole number", "'1.5'"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 1:nan\n"); }, {"feature value", "finite", "'1:nan'"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 1:1e999\n"); }, {"feature value"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 -1:2\n"); }, {"feature index", "non-negative"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 1=2\n"); }, {"INDEX:VALUE", "'1=2'"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 qid:x 1:2\n"); }, {"qid:N"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("1 3000000000:1\n"); }, {"at most 2147483646"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("# nothing\n\n"); }, {"s.txt", "no rows"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse(std::string("1 1:1\0", 6)); }, {"NUL"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { parse("99999999999999999999 1:1\n"); }, {"label"}));
}

TEST(Svmlight, TrainAndTestFilesAndTheParameterBound) {
  TempDir dir;
  WriteText(dir.file("train.svm"), "1 1:1\n2 2:1\n1 1:0.5\n");
  WriteText(dir.file("test.svm"), "2 3:1\n");
  const FeatureData d = load_feature_data(dir.file("train.svm"), dir.file("test.svm"));
  EXPECT_EQ(d.format, "svmlight");
  EXPECT_TRUE(d.train_x.sparse);
  EXPECT_EQ(d.train_x.cols, 3u);
  EXPECT_EQ(d.test_x.cols, 3u);
  EXPECT_EQ(d.test_y, (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(d.train_y, (std::vector<std::uint32_t>{0, 1, 0}));
  WriteText(dir.file("wide.svm"), "1 1:1\n2 2000000000:1\n");
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_feature_data(dir.file("wide.svm"), "", IdxLimits{1u << 20}); },
                                    {"wide.svm", "2000000000 features and 2 classes", "--max-bytes"}));
  // eval/predict: the one file mapped onto a model's classes and widened to its width.
  const LabelledFeatures f = load_features_for_model(dir.file("test.svm"), 5, {1, 2});
  EXPECT_EQ(f.x.cols, 5u);
  EXPECT_EQ(f.y, (std::vector<std::uint32_t>{1}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_features_for_model(dir.file("test.svm"), 2, {1, 2}); },
                                    {"test.svm", "feature index 2", "takes 2 features"}));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_features_for_model(dir.file("test.svm"), 5, {1, 3}); },
                                    {"label at row 0 is 2", "not one of the model's 2 classes"}));
}

}  // namespace
}  // namespace logreg
