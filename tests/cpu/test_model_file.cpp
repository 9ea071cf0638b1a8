// The model file (model_file.hpp): exact round trip, the documented byte layout, every rejection a
// damaged file must get (checksum, truncation, magic, version, sizes), and the atomic writer.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/model_file.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

ModelFile SampleModelFile(LossHead head = LossHead::kSoftmax, bool with_state = false) {
  ModelFile f;
  f.rows = 4;
  f.cols = 5;
  f.model = init_model(20, 3, head, 11);
  f.epochs_done = 7;
  f.seed = 0x0123456789ABCDEFull;
  f.settings_json = R"({"epochs":7,"lr":0.1,"loss":"softmax","note":"π ≈ 3.14"})";
  if (with_state) {
    f.optimizer_state.resize(20 * 3 + 3);
    for (std::size_t i = 0; i < f.optimizer_state.size(); ++i) f.optimizer_state[i] = 0.001f * static_cast<float>(i);
  }
  return f;
}

std::vector<std::uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::uint32_t GetU32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | static_cast<std::uint32_t>(b[at + 1]) << 8 |
         static_cast<std::uint32_t>(b[at + 2]) << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
}

void PutU32(std::vector<std::uint8_t>* b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) (*b)[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Rewrites the trailing CRC so that only the deliberate change is wrong.
void FixCrc(std::vector<std::uint8_t>* b) {
  const std::size_t n = b->size() - 4;
  PutU32(b, n, static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), b->data(), static_cast<uInt>(n))));
}

std::string LoadError(const std::string& path) {
  try {
    load_model_file(path);
  } catch (const DataError& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadData);
    EXPECT_EQ(e.file(), path);
    return e.what();
  }
  ADD_FAILURE() << "load_model_file(" << path << ") accepted a damaged file";
  return "";
}

std::vector<std::string> TempFilesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) names.push_back(name);
  }
  return names;
}

TEST(ModelFile, RoundTripIsExact) {
  test::TempDir dir;
  for (LossHead head : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    for (bool with_state : {false, true}) {
      const ModelFile saved = SampleModelFile(head, with_state);
      const std::string path = dir.file("model.lrm");
      save_model_file(path, saved);
      const ModelFile loaded = load_model_file(path);
      EXPECT_EQ(loaded.model.head, head);
      EXPECT_EQ(loaded.model.input_dim, 20);
      EXPECT_EQ(loaded.model.num_classes, 3);
      EXPECT_EQ(loaded.model.weights, saved.model.weights);  // bit-identical floats
      EXPECT_EQ(loaded.model.bias, saved.model.bias);
      EXPECT_EQ(loaded.rows, 4u);
      EXPECT_EQ(loaded.cols, 5u);
      EXPECT_EQ(loaded.epochs_done, 7u);
      EXPECT_EQ(loaded.seed, 0x0123456789ABCDEFull);
      EXPECT_EQ(loaded.settings_json, saved.settings_json);
      EXPECT_EQ(loaded.optimizer_state, saved.optimizer_state);
    }
  }
}

TEST(ModelFile, RoundTripGivesIdenticalPredictions) {
  test::TempDir dir;
  ModelFile saved = SampleModelFile();
  const ImageSet images = test::RandomImages(30, 4, 5, 5);
  save_model_file(dir.file("m.lrm"), saved);
  const ModelFile loaded = load_model_file(dir.file("m.lrm"));
  const std::vector<float> before = compute_logits(saved.model, images);
  const std::vector<float> after = compute_logits(loaded.model, images);
  EXPECT_EQ(before, after);
}

TEST(ModelFile, LayoutMatchesTheDocumentedOffsets) {
  test::TempDir dir;
  const ModelFile f = SampleModelFile(LossHead::kOvr, true);
  save_model_file(dir.file("m.lrm"), f);
  const std::vector<std::uint8_t> b = ReadBytes(dir.file("m.lrm"));
  const std::size_t S = f.settings_json.size(), CD = 60, C = 3, K = 63;
  ASSERT_EQ(b.size(), 60 + S + 4 * (CD + C + K));
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "LOGREGMD");
  EXPECT_EQ(GetU32(b, 8), 1u);
  EXPECT_EQ(GetU32(b, 12), 48u);
  EXPECT_EQ(GetU32(b, 16), 4u);
  EXPECT_EQ(GetU32(b, 20), 5u);
  EXPECT_EQ(GetU32(b, 24), 3u);
  EXPECT_EQ(GetU32(b, 28), 2u);  // ovr
  float scale = 0.0f;
  const std::uint32_t scale_bits = GetU32(b, 32);
  std::memcpy(&scale, &scale_bits, 4);
  EXPECT_EQ(scale, 1.0f / 255.0f);
  EXPECT_EQ(GetU32(b, 36), 7u);
  EXPECT_EQ(GetU32(b, 40), 0x89ABCDEFu);  // u64 seed, low word first
  EXPECT_EQ(GetU32(b, 44), 0x01234567u);
  EXPECT_EQ(GetU32(b, 48), S);
  EXPECT_EQ(std::string(b.begin() + 52, b.begin() + 52 + static_cast<long>(S)), f.settings_json);
  float w0 = 0.0f;
  const std::uint32_t w0_bits = GetU32(b, 52 + S);
  std::memcpy(&w0, &w0_bits, 4);
  EXPECT_EQ(w0, f.model.weights[0]);
  EXPECT_EQ(GetU32(b, 52 + S + 4 * (CD + C)), K);
  const std::size_t n = b.size() - 4;
  EXPECT_EQ(GetU32(b, n), static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), b.data(), static_cast<uInt>(n))));
}

TEST(ModelFile, FlippedWeightByteIsChecksumError) {
  test::TempDir dir;
  const ModelFile f = SampleModelFile();
  save_model_file(dir.file("m.lrm"), f);
  std::vector<std::uint8_t> b = ReadBytes(dir.file("m.lrm"));
  b[52 + f.settings_json.size() + 4 * 10 + 1] ^= 0x10;  // inside weight 10
  WriteBytes(dir.file("m.lrm"), b);
  const std::string msg = LoadError(dir.file("m.lrm"));
  EXPECT_NE(msg.find("checksum mismatch: the file is corrupted"), std::string::npos) << msg;
}

TEST(ModelFile, TruncatedFileIsRejected) {
  test::TempDir dir;
  save_model_file(dir.file("m.lrm"), SampleModelFile());
  const std::vector<std::uint8_t> b = ReadBytes(dir.file("m.lrm"));
  for (std::size_t keep : {b.size() - 1, b.size() - 9, b.size() / 2, std::size_t{70}, std::size_t{30}, std::size_t{0}}) {
    WriteBytes(dir.file("cut.lrm"), std::vector<std::uint8_t>(b.begin(), b.begin() + static_cast<long>(keep)));
    const std::string msg = LoadError(dir.file("cut.lrm"));
    if (keep >= 8) EXPECT_NE(msg.find("truncated"), std::string::npos) << "kept " << keep << ": " << msg;
  }
}

TEST(ModelFile, TrailingBytesAreRejected) {
  test::TempDir dir;
  save_model_file(dir.file("m.lrm"), SampleModelFile());
  std::vector<std::uint8_t> b = ReadBytes(dir.file("m.lrm"));
  b.push_back(0);
  WriteBytes(dir.file("m.lrm"), b);
  const std::string msg = LoadError(dir.file("m.lrm"));
  EXPECT_NE(msg.find("trailing bytes"), std::string::npos) << msg;
}

TEST(ModelFile, WrongMagicIsRejected) {
  test::TempDir dir;
  save_model_file(dir.file("m.lrm"), SampleModelFile());
  std::vector<std::uint8_t> b = ReadBytes(dir.file("m.lrm"));
  b[0] = 'X';
  FixCrc(&b);
  WriteBytes(dir.file("m.lrm"), b);
  const std::string msg = LoadError(dir.file("m.lrm"));
  EXPECT_NE(msg.find("magic at byte 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a logreg_cuda model file"), std::string::npos) << msg;
}

TEST(ModelFile, WrongVersionNamesTheSupportedVersion) {
  test::TempDir dir;
  save_model_file(dir.file("m.lrm"), SampleModelFile());
  std::vector<std::uint8_t> b = ReadBytes(dir.file("m.lrm"));
  PutU32(&b, 8, 4);
  FixCrc(&b);  // so that the version check, not the checksum, is what fails
  WriteBytes(dir.file("m.lrm"), b);
  const std::string msg = LoadError(dir.file("m.lrm"));
  EXPECT_NE(msg.find("unsupported model file version 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reads versions 1 to 3"), std::string::npos) << msg;
  // A version-1 file relabelled as version 2 lacks the class labels: its length says so.
  b = ReadBytes(dir.file("m.lrm"));
  PutU32(&b, 8, 2);
  FixCrc(&b);
  WriteBytes(dir.file("m.lrm"), b);
  const std::string v2 = LoadError(dir.file("m.lrm"));
  EXPECT_NE(v2.find("the class labels"), std::string::npos) << v2;
}

TEST(ModelFile, ClassLabelsMakeVersion2AndRoundTrip) {
  test::TempDir dir;
  ModelFile f = SampleModelFile();
  save_model_file(dir.file("v1.lrm"), f);
  const std::vector<std::uint8_t> v1 = ReadBytes(dir.file("v1.lrm"));
  EXPECT_EQ(GetU32(v1, 8), 1u);
  f.class_labels = {-7, 0, 1000000000000};
  save_model_file(dir.file("v2.lrm"), f);
  const std::vector<std::uint8_t> v2 = ReadBytes(dir.file("v2.lrm"));
  EXPECT_EQ(GetU32(v2, 8), 2u);
  ASSERT_EQ(v2.size(), v1.size() + 4 + 8 * 3);
  // The same bytes up to the optimizer state; then L = 3 and the labels, little-endian i64.
  EXPECT_TRUE(std::equal(v1.begin() + 12, v1.end() - 4, v2.begin() + 12));
  EXPECT_EQ(GetU32(v2, v1.size() - 4), 3u);
  EXPECT_EQ(GetU32(v2, v1.size()), static_cast<std::uint32_t>(-7));
  EXPECT_EQ(GetU32(v2, v1.size() + 4), 0xFFFFFFFFu);
  const ModelFile back = load_model_file(dir.file("v2.lrm"));
  EXPECT_EQ(back.class_labels, f.class_labels);
  EXPECT_EQ(back.label_of(2), 1000000000000);
  EXPECT_EQ(load_model_file(dir.file("v1.lrm")).label_of(2), 2);
  // Labels out of order are refused by name.
  std::vector<std::uint8_t> bad = v2;
  PutU32(&bad, v1.size() + 8 + 12, 0x80000000u);  // class 2's label's high word: now negative, below class 1's 0
  FixCrc(&bad);
  WriteBytes(dir.file("bad.lrm"), bad);
  const std::string msg = LoadError(dir.file("bad.lrm"));
  EXPECT_NE(msg.find("class_labels[2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("strictly ascending"), std::string::npos) << msg;
  f.class_labels = {1, 1, 2};
  EXPECT_THROW(save_model_file(dir.file("x.lrm"), f), std::invalid_argument);
}

TEST(ModelFile, ScalerMakesVersion3AndRoundTripsExactly) {
  test::TempDir dir;
  ModelFile f = SampleModelFile();
  f.class_labels = {-1, 2, 9};
  save_model_file(dir.file("v2.lrm"), f);
  const std::vector<std::uint8_t> v2 = ReadBytes(dir.file("v2.lrm"));
  for (int j = 0; j < 20; ++j) {
    f.scaler.mean.push_back(0.1 * j - 0.7);
    f.scaler.scale.push_back(j == 3 ? 1.0 : 1.0 / 3.0 + j);  // 1/3: a double that a float would round
  }
  save_model_file(dir.file("v3.lrm"), f);
  const std::vector<std::uint8_t> v3 = ReadBytes(dir.file("v3.lrm"));
  EXPECT_EQ(GetU32(v3, 8), 3u);
  ASSERT_EQ(v3.size(), v2.size() + 4 + 16 * 20);
  // The version-2 bytes up to its CRC; then D = 20, the means, the scales (f64).
  EXPECT_TRUE(std::equal(v2.begin() + 12, v2.end() - 4, v3.begin() + 12));
  const std::size_t at = v2.size() - 4;
  EXPECT_EQ(GetU32(v3, at), 20u);
  double scale1 = 0.0;
  std::memcpy(&scale1, v3.data() + at + 4 + 8 * 20 + 8, 8);
  EXPECT_EQ(scale1, 1.0 / 3.0 + 1);
  const ModelFile back = load_model_file(dir.file("v3.lrm"));
  EXPECT_EQ(back.scaler.mean, f.scaler.mean);
  EXPECT_EQ(back.scaler.scale, f.scaler.scale);
  EXPECT_EQ(back.class_labels, f.class_labels);
  EXPECT_TRUE(load_model_file(dir.file("v2.lrm")).scaler.empty());

  // A bad scaler block is refused by field name: a zero scale, a wrong count, a NaN mean.
  std::vector<std::uint8_t> bad = v3;
  std::memset(bad.data() + at + 4 + 8 * 20 + 8 * 5, 0, 8);  // scale[5] = 0
  FixCrc(&bad);
  WriteBytes(dir.file("bad.lrm"), bad);
  std::string msg = LoadError(dir.file("bad.lrm"));
  EXPECT_NE(msg.find("scaler scale[5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a finite number > 0"), std::string::npos) << msg;
  bad = v3;
  PutU32(&bad, at, 19);
  FixCrc(&bad);
  WriteBytes(dir.file("bad.lrm"), bad);
  msg = LoadError(dir.file("bad.lrm"));
  EXPECT_NE(msg.find("scaler_count"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected D = 20"), std::string::npos) << msg;
  bad = v3;
  PutU32(&bad, at + 4 + 8 * 2 + 4, 0x7FF80000u);  // mean[2]'s high word: NaN
  FixCrc(&bad);
  WriteBytes(dir.file("bad.lrm"), bad);
  msg = LoadError(dir.file("bad.lrm"));
  EXPECT_NE(msg.find("scaler mean[2]"), std::string::npos) << msg;
  // A version-2 file relabelled as 3 lacks the scaler: its length says so.
  bad = v2;
  PutU32(&bad, 8, 3);
  FixCrc(&bad);
  WriteBytes(dir.file("bad.lrm"), bad);
  msg = LoadError(dir.file("bad.lrm"));
  EXPECT_NE(msg.find("the scaler"), std::string::npos) << msg;

  // The writer refuses what the reader would: a scaler without labels, of the wrong width, or a zero scale.
  ModelFile no_labels = f;
  no_labels.class_labels.clear();
  EXPECT_THROW(save_model_file(dir.file("x.lrm"), no_labels), std::invalid_argument);
  ModelFile narrow = f;
  narrow.scaler.mean.pop_back();
  EXPECT_THROW(save_model_file(dir.file("x.lrm"), narrow), std::invalid_argument);
  ModelFile zero = f;
  zero.scaler.scale[0] = 0.0;
  EXPECT_THROW(save_model_file(dir.file("x.lrm"), zero), DivergedError);
}

TEST(ModelFile, BadFieldsAreRejectedByName) {
  test::TempDir dir;
  const ModelFile f = SampleModelFile();
  save_model_file(dir.file("m.lrm"), f);
  const std::vector<std::uint8_t> good = ReadBytes(dir.file("m.lrm"));
  struct Case {
    std::size_t offset;
    std::uint32_t value;
    const char* expected;
  };
  const Case cases[] = {
      {12, 52, "header_bytes at byte 12"},
      {24, 0, "num_classes at byte 24"},
      {24, 257, "num_classes at byte 24"},
      {24, 4, "truncated"},                         // more classes than the file holds
      {16, 0xFFFFFFFFu, "rows at byte 16"},          // D beyond int
      {16, 0, "input shape 0x5 is empty"},           // a zero dimension (C*D = 0 weights would fit any length)
      {20, 0, "input shape 4x0 is empty"},
      {16, 1000000, "more than the"},               // a huge claimed shape is bounded by the file length
      {28, 3, "loss head at byte 28"},
      {32, 0x7FC00000u, "pixel scale at byte 32"},  // NaN
      {32, 0x3F800000u, "pixel scale at byte 32"},  // 1.0: not what this build computes
      {48, 0xFFFFFFF0u, "truncated"},               // settings length beyond the file
      {52 + f.settings_json.size() + 4 * 5, 0x7F800000u, "weights[5] at byte"},  // +inf weight
  };
  for (const Case& c : cases) {
    std::vector<std::uint8_t> b = good;
    PutU32(&b, c.offset, c.value);
    FixCrc(&b);
    WriteBytes(dir.file("bad.lrm"), b);
    const std::string msg = LoadError(dir.file("bad.lrm"));
    EXPECT_NE(msg.find(c.expected), std::string::npos) << "offset " << c.offset << " value " << c.value << ": " << msg;
  }
  // Optimizer state count other than 0 or C*D + C, with the length made consistent.
  std::vector<std::uint8_t> b = good;
  b.resize(b.size() - 4);
  const std::size_t count_at = b.size() - 4;
  PutU32(&b, count_at, 2);
  b.insert(b.end(), 8 + 4, 0);
  FixCrc(&b);
  WriteBytes(dir.file("bad.lrm"), b);
  const std::string msg = LoadError(dir.file("bad.lrm"));
  EXPECT_NE(msg.find("optimizer_state_floats"), std::string::npos) << msg;
}

TEST(ModelFile, MissingFileAndDirectoryAreDataErrors) {
  test::TempDir dir;
  EXPECT_NE(LoadError(dir.file("absent.lrm")).find("No such file"), std::string::npos);
  EXPECT_NE(LoadError(dir.path()).find("directory"), std::string::npos);
}

TEST(ModelFile, SaveIntoMissingDirectoryIsResourceErrorAndCreatesNothing) {
  test::TempDir dir;
  const std::string path = dir.file("no/such/dir/m.lrm");
  try {
    save_model_file(path, SampleModelFile());
    FAIL() << "saved into a missing directory";
  } catch (const ResourceError& e) {
    EXPECT_EQ(e.code(), ExitCode::kDevice);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("no")));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ModelFile, OverwriteReplacesTheFileAndLeavesNoTemporaries) {
  test::TempDir dir;
  const std::string path = dir.file("m.lrm");
  ModelFile first = SampleModelFile();
  save_model_file(path, first);
  ModelFile second = SampleModelFile(LossHead::kOvr, true);
  second.epochs_done = 8;
  second.model.weights[0] = 42.0f;
  save_model_file(path, second);
  const ModelFile loaded = load_model_file(path);
  EXPECT_EQ(loaded.epochs_done, 8u);
  EXPECT_EQ(loaded.model.weights, second.model.weights);
  EXPECT_TRUE(TempFilesIn(dir.path()).empty());
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);
}

// A write that fails half-way (file size limit: write() returns EFBIG, as on a full disk) leaves the
// previous model intact and no temporary behind. Works as root, unlike a read-only directory.
TEST(ModelFile, FailedWriteLeavesThePreviousFileIntact) {
  test::TempDir dir;
  const std::string path = dir.file("m.lrm");
  const ModelFile old_model = SampleModelFile();
  save_model_file(path, old_model);
  const std::vector<std::uint8_t> old_bytes = ReadBytes(path);

  ModelFile big = SampleModelFile();
  big.settings_json.assign(1 << 16, ' ');
  struct rlimit saved_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
  void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string error;
  try {
    save_model_file(path, big);
  } catch (const ResourceError& e) {
    error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved_limit);
  signal(SIGXFSZ, saved_handler);

  EXPECT_NE(error.find("cannot write " + path), std::string::npos) << error;
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_EQ(ReadBytes(path), old_bytes);
  EXPECT_TRUE(TempFilesIn(dir.path()).empty());
  EXPECT_EQ(load_model_file(path).model.weights, old_model.model.weights);
}

TEST(ModelFile, SaveRejectsInconsistentOrNonFiniteModels) {
  test::TempDir dir;
  ModelFile f = SampleModelFile();
  f.rows = 3;  // 3 x 5 != 20
  EXPECT_THROW(save_model_file(dir.file("a.lrm"), f), std::invalid_argument);
  f = SampleModelFile();
  f.optimizer_state.resize(5);
  EXPECT_THROW(save_model_file(dir.file("b.lrm"), f), std::invalid_argument);
  f = SampleModelFile();
  f.model.bias[1] = std::nanf("");
  EXPECT_THROW(save_model_file(dir.file("c.lrm"), f), DivergedError);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace logreg
