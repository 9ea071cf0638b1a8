// End to end on the CUDA backend through the command line, with the real shapes (Fashion-MNIST: 784
// inputs, 10 classes, batch 32 with a partial last batch): `train --device cuda` reaches the accuracy of
// `--device reference` within the tolerance of the epoch tests (the cuBLAS step path and the persistent
// kernel), and the cuBLAS step path's resident and streamed inputs print identical epochs. On the emulated
// device this is the whole program running its CUDA code on the CPU.
#include <cmath>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "gpu_test.hpp"
#include "logreg/idx.hpp"

namespace logreg::test {
namespace {

// Debian's dataset-fashion-mnist, or LOGREG_FASHION_MNIST (a GPU machine has the files elsewhere).
std::string FashionDir() {
  const char* from_env = std::getenv("LOGREG_FASHION_MNIST");
  return from_env != nullptr && *from_env != '\0' ? std::string(from_env) : "/usr/share/datasets/fashion-mnist";
}

// The "Accuracy: X" of every epoch line.
std::vector<double> accuracies(const std::string& out) {
  std::vector<double> acc;
  const std::regex re("Epoch: [0-9]+\\. Loss: [0-9.]+\\. Accuracy: ([0-9.]+)\\.");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it) {
    acc.push_back(std::stod((*it)[1].str()));
  }
  return acc;
}

// The epoch lines without their timings.
std::string epochs_without_times(const std::string& out) {
  std::string kept;
  const std::regex re("Epoch: [0-9]+\\. Loss: [0-9.]+\\. Accuracy: [0-9.]+\\.");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it) {
    kept += it->str() + "\n";
  }
  return kept;
}

// The first `count` images of an IDX set.
ImageSet first_images(const ImageSet& all, std::uint32_t count) {
  ImageSet s = all;
  s.path.clear();
  s.count = count;
  s.pixels.resize(static_cast<std::size_t>(count) * all.dim());
  return s;
}

LabelSet first_labels(const LabelSet& all, std::uint32_t count) {
  LabelSet s = all;
  s.labels.resize(count);
  return s;
}

class CudaCli : public GpuTest {};

TEST_F(CudaCli, TrainOnFashionMnistMatchesTheReference) {
  // At LOGREG_TEST_SIZE=small (the sanitizer stage) the runs read a copy of the first 2,000 training and
  // 1,000 test rows: the same program paths, without decompressing the whole set four times under ASan.
  TempDir subset;
  std::string data = FashionDir();
  double tolerance = 0.05;  // percent: 5 of the 10,000 test rows
  if (SmallTestSize()) {
    const std::string dir = FashionDir();
    WriteDataDir(subset, first_images(load_idx_images(dir + "/train-images-idx3-ubyte.gz"), 2000),
                 first_labels(load_idx_labels(dir + "/train-labels-idx1-ubyte.gz"), 2000),
                 first_images(load_idx_images(dir + "/t10k-images-idx3-ubyte.gz"), 1000),
                 first_labels(load_idx_labels(dir + "/t10k-labels-idx1-ubyte.gz"), 1000));
    data = subset.path();
    tolerance = 0.5;  // 5 of the 1,000 test rows
  }
  const std::string common = " --data " + data + " --epochs 2 --limit-train 2000 --seed 3";
  const CliResult ref = RunCli("train --device reference" + common);
  const CliResult gpu = RunCli("train --device cuda --residency device --kernel cublas" + common);
  const CliResult streamed = RunCli("train --device cuda --residency stream" + common);
  const CliResult persistent = RunCli("train --device cuda --kernel persistent" + common);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  ASSERT_EQ(gpu.exit_code, 0) << gpu.output;
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  // On a GPU whose shared memory cannot hold a batch of 32 (the emulated device made smaller), the persistent
  // kernel is refused as a usage error naming the option; the rest of the test is the same.
  const bool persistent_fits = test::PersistentFits(32, 784, 10, false);
  if (persistent_fits) {
    ASSERT_EQ(persistent.exit_code, 0) << persistent.output;
    EXPECT_NE(persistent.output.find("kernel persistent"), std::string::npos) << persistent.output;
  } else {
    EXPECT_EQ(persistent.exit_code, 2) << persistent.output;
    EXPECT_NE(persistent.output.find("--kernel persistent cannot run batches of 32 rows"), std::string::npos)
        << persistent.output;
  }
  EXPECT_NE(gpu.output.find("data on device, CUDA graphs on"), std::string::npos) << gpu.output;
  EXPECT_NE(streamed.output.find("data streamed from pinned host memory"), std::string::npos) << streamed.output;

  const std::vector<double> want = accuracies(ref.out);
  const std::vector<double> got = accuracies(gpu.out);
  ASSERT_EQ(want.size(), 2u) << ref.out;
  ASSERT_EQ(got.size(), 2u) << gpu.out;
  const std::vector<double> got_persistent = accuracies(persistent.out);
  ASSERT_EQ(got_persistent.size(), persistent_fits ? 2u : 0u) << persistent.out;
  for (std::size_t e = 0; e < want.size(); ++e) {
    EXPECT_LE(std::fabs(got[e] - want[e]), tolerance) << "epoch " << e + 1 << ": cuda " << got[e] << " vs reference " << want[e];
    if (!persistent_fits) continue;
    EXPECT_LE(std::fabs(got_persistent[e] - want[e]), tolerance)
        << "epoch " << e + 1 << ": cuda --kernel persistent " << got_persistent[e] << " vs reference " << want[e];
  }
  EXPECT_GT(got.back(), 30.0);  // it learned something: a uniform guess is 10 %
  EXPECT_EQ(epochs_without_times(gpu.out), epochs_without_times(streamed.out));
}

}  // namespace
}  // namespace logreg::test
