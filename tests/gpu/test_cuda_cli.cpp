// End to end on the CUDA backend through the command line, with the real shapes (Fashion-MNIST: 784
// inputs, 10 classes, batch 32 with a partial last batch): `train --device cuda` reaches the accuracy of
// `--device reference` within the tolerance of the epoch tests (the cuBLAS step path and the persistent
// kernel), and the cuBLAS step path's resident and streamed inputs print identical epochs; `train --data X.npz
// --device cuda --solver lbfgs` reaches --device cpu's final objective and predictions, weighted and without an
// intercept too, and the solvers cuda does not run on feature files are refused by name. On the emulated device
// this is the whole program running its CUDA code on the CPU.
#include <cmath>
#include <cstdlib>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "cli_runner.hpp"
#include "feature_files.hpp"
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

// The "Objective: X" of the final line of a feature file's L-BFGS fit, and whether it converged.
std::pair<double, std::string> final_objective(const std::string& out) {
  std::smatch m;
  const std::regex re(R"(Solver: lbfgs\. Iterations: \d+\. Objective: ([0-9.e+-]+)\. Gradient: [0-9.e+-]+\. Converged: (yes|no))");
  if (!std::regex_search(out, m, re)) return {NAN, ""};
  return {std::stod(m[1].str()), m[2].str()};
}

TEST_F(CudaCli, FeatureFileLbfgsMatchesTheCpu) {
  // A uint8 .npz (x_train 240 x 20, its w_train sample weights, a test split), 3 classes with labels 1, 2, 7.
  TempDir dir;
  ImageSet train, test;
  LabelSet train_labels, test_labels;
  SeparableSet(240, 3, 5, 61, &train, &train_labels);  // 5 x 5 pixels: 25 features
  SeparableSet(60, 3, 5, 62, &test, &test_labels);
  for (std::size_t k = 0; k < train.pixels.size(); k += 7) train.pixels[k] = static_cast<std::uint8_t>(k % 253);
  auto labels = [](const LabelSet& l) {
    std::vector<std::int64_t> v(l.labels.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = l.labels[i] == 2 ? 7 : l.labels[i] + 1;
    return RawBytes(v);
  };
  std::vector<double> w(240);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.5 + static_cast<double>(i % 5) / 2.0;
  const std::string npz = dir.file("u8.npz");
  WriteText(npz, NpzBytes({{"x_train", "|u1", {240, 25}, std::string(train.pixels.begin(), train.pixels.end())},
                           {"y_train", "<i8", {240}, labels(train_labels)},
                           {"w_train", "<f8", {240}, RawBytes(w)},
                           {"x_test", "|u1", {60, 25}, std::string(test.pixels.begin(), test.pixels.end())},
                           {"y_test", "<i8", {60}, labels(test_labels)}},
                          false));
  for (const std::string extra : {"", " --class-weight balanced --no-intercept"}) {
    const std::string common = "train --solver lbfgs --tol 1e-10 --max-iter 400 --C 0.5 --data " + npz + extra;
    const CliResult cpu = RunCli(common + " --device cpu --save " + dir.file("cpu.lrm"));
    const CliResult gpu = RunCli(common + " --device cuda --save " + dir.file("gpu.lrm"));
    ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
    ASSERT_EQ(gpu.exit_code, 0) << gpu.output;
    EXPECT_NE(gpu.out.find("backend cuda ("), std::string::npos) << gpu.out;
    EXPECT_NE(gpu.out.find("uint8 rows on device"), std::string::npos) << gpu.out;
    const auto [f_cpu, converged_cpu] = final_objective(cpu.out);
    const auto [f_gpu, converged_gpu] = final_objective(gpu.out);
    EXPECT_EQ(converged_cpu, "yes") << cpu.out;
    EXPECT_EQ(converged_gpu, "yes") << gpu.out;
    EXPECT_NEAR(f_gpu, f_cpu, 1e-9 * f_cpu) << extra;
    EXPECT_GT(f_cpu, 0.0);
    const std::string predict = " --images " + npz + " --all --output class";
    const CliResult p_cpu = RunCli("predict --model " + dir.file("cpu.lrm") + predict);
    const CliResult p_gpu = RunCli("predict --model " + dir.file("gpu.lrm") + predict);
    ASSERT_EQ(p_cpu.exit_code, 0) << p_cpu.output;
    EXPECT_EQ(p_gpu.out, p_cpu.out) << extra;
    EXPECT_NE(p_cpu.out.find("\n59,"), std::string::npos) << p_cpu.out;  // all 60 test rows predicted
  }
  const std::vector<std::pair<std::string, std::string>> refused = {
      {" --solver newton-cg", "--solver newton-cg runs on --device cpu or reference"},
      {" --solver lbfgs --residency stream", "--device cuda keeps a feature file's rows on the device"},
  };
  for (const auto& [args, message] : refused) {
    const CliResult r = RunCli("train --device cuda --data " + npz + args);
    EXPECT_EQ(r.exit_code, 2) << args << r.output;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << r.err;
  }
}

}  // namespace
}  // namespace logreg::test
