// Tests of data-set discovery and loading (src/data/data_source.cpp): the four names raw or .gz in DIR
// and DIR/MNIST/raw, data-set naming, the --data / ./data / Fashion-MNIST fallback, the cross-checks
// between files, and the real Debian Fashion-MNIST when it is installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "logreg/data_source.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Writes a small train/test set (labels < classes) with the standard names into `dir`.
void WriteSet(const std::string& dir, bool gzip, std::uint32_t train = 30, std::uint32_t test = 10, int classes = 4) {
  fs::create_directories(dir);
  const std::string gz = gzip ? ".gz" : "";
  write_idx_images(dir + "/train-images-idx3-ubyte" + gz, test::RandomImages(train, 6, 6, 1), gzip);
  LabelSet train_labels = test::RandomLabels(train, classes, 1);
  train_labels.labels[0] = static_cast<std::uint8_t>(classes - 1);  // every class count is `classes`
  write_idx_labels(dir + "/train-labels-idx1-ubyte" + gz, train_labels, gzip);
  write_idx_images(dir + "/t10k-images-idx3-ubyte" + gz, test::RandomImages(test, 6, 6, 2), gzip);
  write_idx_labels(dir + "/t10k-labels-idx1-ubyte" + gz, test::RandomLabels(test, classes, 2), gzip);
}

using test::ThrowsWith;

// Runs the test body in another working directory and comes back.
class ScopedWorkingDir {
 public:
  explicit ScopedWorkingDir(const std::string& dir) : previous_(fs::current_path()) { fs::current_path(dir); }
  ~ScopedWorkingDir() {
    std::error_code ec;
    fs::current_path(previous_, ec);
  }

 private:
  fs::path previous_;
};

TEST(DataSource, FindsRawFilesInDir) {
  TempDir tmp;
  const std::string dir = tmp.file("my-mnist");
  WriteSet(dir, /*gzip=*/false);
  const auto files = find_data_files(dir);
  ASSERT_TRUE(files.has_value());
  EXPECT_EQ(files->dir, dir);
  EXPECT_EQ(files->name, "MNIST");
  EXPECT_EQ(files->train_images, dir + "/train-images-idx3-ubyte");
  EXPECT_EQ(files->test_labels, dir + "/t10k-labels-idx1-ubyte");
}

TEST(DataSource, FindsGzFilesInTorchvisionLayout) {
  TempDir tmp;
  WriteSet(tmp.file("MNIST/raw"), /*gzip=*/true);
  const auto files = find_data_files(tmp.path());
  ASSERT_TRUE(files.has_value());
  EXPECT_EQ(files->name, "MNIST");
  EXPECT_EQ(files->dir, tmp.file("MNIST/raw"));
  EXPECT_EQ(files->train_labels, tmp.file("MNIST/raw/train-labels-idx1-ubyte.gz"));
  EXPECT_EQ(load_dataset(*files).train_images.count, 30u);
}

// A name both raw and .gz: either could be meant (a stale decompressed copy, a newer download), so neither
// is picked silently.
TEST(DataSource, RefusesAFileThereBothRawAndGz) {
  TempDir tmp;
  WriteSet(tmp.path(), /*gzip=*/true);
  WriteSet(tmp.path(), /*gzip=*/false);
  EXPECT_TRUE(ThrowsWith<DataError>([&] { find_data_files(tmp.path()); },
                                    {"ambiguous data files", tmp.file("train-images-idx3-ubyte") + " and " +
                                                                 tmp.file("train-images-idx3-ubyte.gz")}));
}

TEST(DataSource, NamesDataSetsByPath) {
  TempDir tmp;
  WriteSet(tmp.file("Fashion-MNIST"), false);
  WriteSet(tmp.file("fashion/FashionMNIST/raw"), true);
  WriteSet(tmp.file("digits"), false);
  WriteSet(tmp.file("fashion-team/work/digits"), false);
  EXPECT_EQ(find_data_files(tmp.file("Fashion-MNIST"))->name, "Fashion-MNIST");
  EXPECT_EQ(find_data_files(tmp.file("fashion-team/work/digits"))->name, tmp.file("fashion-team/work/digits"));
  EXPECT_EQ(find_data_files(tmp.file("fashion/FashionMNIST/raw"))->name, "Fashion-MNIST");
  EXPECT_EQ(find_data_files(tmp.file("digits"))->name, tmp.file("digits"));
}

TEST(DataSource, ReturnsNulloptWhenAFileIsMissing) {
  TempDir tmp;
  WriteSet(tmp.path(), false);
  fs::remove(tmp.file("t10k-images-idx3-ubyte"));
  EXPECT_FALSE(find_data_files(tmp.path()).has_value());
}

TEST(DataSource, LocateNamesMissingFilesAndBothPlaces) {
  TempDir tmp;
  WriteSet(tmp.path(), true);
  fs::remove(tmp.file("t10k-labels-idx1-ubyte.gz"));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { locate_data(tmp.path(), nullptr); },
                                    {"--data " + tmp.path(), "missing t10k-labels-idx1-ubyte[.gz]", tmp.path(),
                                     tmp.file("MNIST/raw"), "tools/setup/fetch_mnist.sh"}));
}

TEST(DataSource, LocateRejectsMissingDirectory) {
  TempDir tmp;
  const std::string dir = tmp.file("not-there");
  EXPECT_TRUE(ThrowsWith<DataError>([&] { locate_data(dir, nullptr); }, {"--data " + dir, "no such directory"}));
}

TEST(DataSource, LocateUsesGivenDirWithoutNote) {
  TempDir tmp;
  WriteSet(tmp.path(), false);
  std::string note = "stale";
  EXPECT_EQ(locate_data(tmp.path(), &note).dir, tmp.path());
  EXPECT_EQ(note, "");
}

TEST(DataSource, LocateWithoutDirTriesDataThenFashionMnist) {
  TempDir tmp;
  ScopedWorkingDir cwd(tmp.path());
  std::string note;
  if (find_data_files(kFashionMnistDir)) {
    const DataFiles files = locate_data(std::nullopt, &note);
    EXPECT_EQ(files.dir, kFashionMnistDir);
    EXPECT_NE(note.find("Fashion-MNIST"), std::string::npos) << note;
    EXPECT_NE(note.find("tools/setup/fetch_mnist.sh"), std::string::npos) << note;
  } else {
    EXPECT_TRUE(ThrowsWith<DataError>([&] { locate_data(std::nullopt, &note); },
                                      {"dataset-fashion-mnist", "tools/setup/fetch_mnist.sh"}));
  }
  WriteSet("data", true);
  const DataFiles files = locate_data(std::nullopt, &note);
  EXPECT_EQ(files.dir, "data");
  EXPECT_NE(note.find("using data"), std::string::npos) << note;
}

TEST(DataSource, LoadsSmallDataset) {
  TempDir tmp;
  WriteSet(tmp.path(), true, 30, 10, 4);
  const Dataset ds = load_dataset(*find_data_files(tmp.path()));
  EXPECT_EQ(ds.dir, tmp.path());
  EXPECT_EQ(ds.name, tmp.path());
  EXPECT_EQ(ds.num_classes, 4);
  EXPECT_EQ(ds.train_images.count, 30u);
  EXPECT_EQ(ds.train_labels.count(), 30u);
  EXPECT_EQ(ds.test_images.count, 10u);
  EXPECT_EQ(ds.test_images.rows, 6u);
}

TEST(DataSource, RejectsImageLabelCountMismatch) {
  TempDir tmp;
  WriteSet(tmp.path(), false);
  write_idx_labels(tmp.file("t10k-labels-idx1-ubyte"), test::RandomLabels(9, 4, 3));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_dataset(*find_data_files(tmp.path())); },
                                    {tmp.file("t10k-labels-idx1-ubyte"), "9 labels", tmp.file("t10k-images-idx3-ubyte"),
                                     "10 images"}));
}

TEST(DataSource, RejectsImageShapeMismatch) {
  TempDir tmp;
  WriteSet(tmp.path(), false);
  write_idx_images(tmp.file("t10k-images-idx3-ubyte"), test::RandomImages(10, 6, 5, 3));
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_dataset(*find_data_files(tmp.path())); },
                                    {tmp.file("t10k-images-idx3-ubyte"), "6x5", tmp.file("train-images-idx3-ubyte"),
                                     "6x6"}));
}

TEST(DataSource, RejectsTestLabelOutsideTrainingClasses) {
  TempDir tmp;
  WriteSet(tmp.path(), false, 30, 10, 4);
  LabelSet test_labels = test::RandomLabels(10, 4, 2);
  test_labels.labels[7] = 4;
  write_idx_labels(tmp.file("t10k-labels-idx1-ubyte"), test_labels);
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_dataset(*find_data_files(tmp.path())); },
                                    {tmp.file("t10k-labels-idx1-ubyte"), "index 7", "is 4", "4 classes"}));
}

// One damaged training label (200 among 0..3) must not silently make a 201-class model.
TEST(DataSource, RejectsTrainingLabelsWithEmptyClasses) {
  TempDir tmp;
  WriteSet(tmp.path(), false, 30, 10, 4);
  LabelSet train_labels = test::RandomLabels(30, 4, 5);
  train_labels.labels[12] = 200;
  write_idx_labels(tmp.file("train-labels-idx1-ubyte"), train_labels);
  EXPECT_TRUE(ThrowsWith<DataError>([&] { load_dataset(*find_data_files(tmp.path())); },
                                    {tmp.file("train-labels-idx1-ubyte"), "index 12 is 200", "201 classes",
                                     "196 of them (the first: 4) have no training samples"}));
}

TEST(DataSource, PropagatesIdxErrorsWithTheFileName) {
  TempDir tmp;
  WriteSet(tmp.path(), false);
  const std::string bad = tmp.file("train-labels-idx1-ubyte");
  std::FILE* f = std::fopen(bad.c_str(), "ab");
  ASSERT_NE(f, nullptr);
  std::fputc(0, f);
  std::fclose(f);
  EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_dataset(*find_data_files(tmp.path())); }, {bad, "trailing bytes"}));
}

// The four files load on two threads (load_four_files); with several broken, the error is still the first
// in the order train images, train labels, test images, test labels, and nothing is left running.
TEST(DataSource, ReportsTheFirstBrokenFileInLoadOrder) {
  for (const char* first : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"}) {
    TempDir tmp;
    WriteSet(tmp.path(), false);
    bool later = false;
    for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                             "t10k-labels-idx1-ubyte"}) {
      later = later || std::string(name) == first;
      if (!later) continue;
      std::FILE* f = std::fopen(tmp.file(name).c_str(), "ab");  // every file from `first` on: trailing bytes
      ASSERT_NE(f, nullptr);
      std::fputc(0, f);
      std::fclose(f);
    }
    EXPECT_TRUE(ThrowsWith<IdxError>([&] { load_dataset(*find_data_files(tmp.path())); },
                                     {tmp.file(first), "trailing bytes"}))
        << first;
  }
}

TEST(DataSource, LoadsDebianFashionMnist) {
  const auto files = find_data_files(kFashionMnistDir);
  if (!files) GTEST_SKIP() << kFashionMnistDir << " not found (apt install dataset-fashion-mnist)";
  const Dataset ds = load_dataset(*files);
  EXPECT_EQ(ds.name, "Fashion-MNIST");
  EXPECT_EQ(ds.train_images.count, 60000u);
  EXPECT_EQ(ds.test_images.count, 10000u);
  EXPECT_EQ(ds.train_images.rows, 28u);
  EXPECT_EQ(ds.train_images.cols, 28u);
  EXPECT_EQ(ds.num_classes, 10);
  std::vector<int> per_class(10, 0);
  for (std::uint8_t l : ds.train_labels.labels) ++per_class[l];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 6000) << "class " << c;
}

}  // namespace
}  // namespace logreg
