// The logreg_cuda executable as a user meets it: exit codes and messages for bad input, and short
// real runs of train / info / show on small generated IDX files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "logreg/cuda_backend.hpp"
#include "logreg/idx.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RunCli;

// Four small IDX files (gz train images, raw others) in a temp dir.
class CliData : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 200, 50, 10, 28, 3, /*gzip_train_images=*/true);
  }
  test::TempDir dir_;
};

TEST(Cli, MissingDataDirectoryIsBadInput) {
  const auto r = RunCli("train --device cpu --data /nonexistent/logreg_dir");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/logreg_dir"), std::string::npos) << r.output;
}

TEST(Cli, ZeroBatchSizeIsUsageError) {
  const auto r = RunCli("train --batch-size 0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--batch-size"), std::string::npos) << r.output;
}

TEST(Cli, NegativeLearningRateIsUsageError) {
  const auto r = RunCli("train --device cpu --lr -1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--lr"), std::string::npos) << r.output;
}

TEST(Cli, NonNumericEpochsIsUsageError) {
  const auto r = RunCli("train --epochs abc");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--epochs"), std::string::npos) << r.output;
}

TEST(Cli, UnknownLossIsUsageError) {
  const auto r = RunCli("train --loss hinge");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--loss"), std::string::npos) << r.output;
}

TEST(Cli, NoSubcommandIsUsageError) {
  EXPECT_EQ(RunCli("").exit_code, 2);
}

TEST_F(CliData, CorruptFileIsBadInputNamingTheFile) {
  std::ofstream(dir_.file("t10k-labels-idx1-ubyte"), std::ios::binary | std::ios::trunc) << "garbage!";
  const auto r = RunCli("train --device cpu --epochs 1 --data " + dir_.path());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("t10k-labels-idx1-ubyte"), std::string::npos) << r.output;
}

TEST_F(CliData, TrainPrintsOneLinePerEpoch) {
  const auto r = RunCli("train --device cpu --epochs 2 --lr 0.5 --data " + dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Epoch: 1. Loss: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Epoch: 2. Loss: "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Epoch: 3."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Accuracy: 100.00."), std::string::npos) << r.output;
}

TEST_F(CliData, CudaDeviceWithoutGpuIsDeviceError) {
  if (probe_cuda().usable) GTEST_SKIP() << "a CUDA device is usable here; this test is for machines without one";
  const auto r = RunCli("train --device cuda --epochs 1 --data " + dir_.path());
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("no usable CUDA device"), std::string::npos) << r.output;
}

TEST_F(CliData, AutoDeviceFallsBackToCpuAndSaysSo) {
  if (probe_cuda().usable) GTEST_SKIP() << "a CUDA device is usable here; this test is for machines without one";
  const auto r = RunCli("train --epochs 1 --data " + dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("training on the CPU"), std::string::npos) << r.output;
}

TEST_F(CliData, InfoPrintsCountsAndShapes) {
  const auto r = RunCli("info --data " + dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("200"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("uint8 [1, 28, 28]"), std::string::npos) << r.output;
}

TEST_F(CliData, MaxBytesLimitIsBadInputNamingFileAndLimit) {
  // The generated train images are 200 x 28 x 28 = 156800 bytes, over a 1 KiB limit.
  const auto r = RunCli("info --max-bytes 1K --data " + dir_.path());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("train-images-idx3-ubyte"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("limit of 1024 bytes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--max-bytes"), std::string::npos) << r.err;
}

TEST_F(CliData, MaxBytesAboveTheFilesLoads) {
  EXPECT_EQ(RunCli("info --max-bytes 1M --data " + dir_.path()).exit_code, 0);
}

TEST(Cli, MaxBytesZeroOrGarbageIsUsageError) {
  for (const char* v : {"0", "lots", "-5"}) {
    const auto r = RunCli(std::string("info --max-bytes ") + v + " --data /nonexistent");
    EXPECT_EQ(r.exit_code, 2) << v << ": " << r.output;
    EXPECT_NE(r.err.find("--max-bytes"), std::string::npos) << v << ": " << r.err;
  }
}

// Out of host memory is exit code 5 with a message saying so. A 1 GB sparse image file (its header promises
// that much, its blocks are holes) meets an address-space limit of 512 MB: reading it cannot allocate.
// The sanitizer build cannot run under an address-space limit (ASan reserves terabytes of shadow memory).
TEST_F(CliData, OutOfHostMemoryIsExitCodeFive) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer cannot run under prlimit --as";
#endif
  // x 28 x 28 = 2,999,999,520 bytes of pixels (under the default --max-bytes of 4 GiB), more than the
  // 2 GiB address-space limit below, which still leaves room to load the program and its shared libraries
  // (the nvcc build maps cuBLAS, about 600 MB).
  const std::uint32_t count = 3826530;
  std::filesystem::remove(dir_.file("train-images-idx3-ubyte.gz"));
  const std::string images = dir_.file("train-images-idx3-ubyte");
  {
    std::ofstream f(images, std::ios::binary);
    const unsigned char header[16] = {0, 0, 8, 3, static_cast<unsigned char>(count >> 24),
                                      static_cast<unsigned char>(count >> 16), static_cast<unsigned char>(count >> 8),
                                      static_cast<unsigned char>(count), 0, 0, 0, 28, 0, 0, 0, 28};
    f.write(reinterpret_cast<const char*>(header), sizeof header);
  }
  std::filesystem::resize_file(images, 16 + static_cast<std::uintmax_t>(count) * 784);
  const auto r = RunCli("info --data " + dir_.path(), "prlimit --as=2147483648 ");
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("out of host memory"), std::string::npos) << r.err;
}

TEST_F(CliData, ShowRejectsIndexOutOfRange) {
  const auto r = RunCli("show --index 500 --data " + dir_.path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--index"), std::string::npos) << r.output;
}

TEST_F(CliData, ShowWritesPng) {
  const std::string png = dir_.file("sample.png");
  const auto r = RunCli("show --index 1 --out " + png + " --data " + dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream f(png, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}

}  // namespace
}  // namespace logreg
