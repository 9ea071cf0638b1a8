// Options that would silently do nothing are refused, naming them: flags of the other solver or of the CUDA
// backend on a CPU run, the step schedule's flags with another schedule, L-BFGS's --seed without a
// validation split, a --C value given twice, --resume of an L-BFGS model; one --C with --val-split reports
// the held-out score; a data directory holding a file both raw and gzip-compressed is ambiguous.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

namespace fs = std::filesystem;
using test::RunCli;

class OptionsApply : public ::testing::Test {
 protected:
  void SetUp() override {
    test::SeparableSet(200, 4, 8, 21, &train_, &train_labels_);
    test::SeparableSet(40, 4, 8, 22, &test_, &test_labels_);
    test::WriteDataDir(dir_, train_, train_labels_, test_, test_labels_);
  }
  std::string Train(const std::string& args) const { return "train --data " + dir_.path() + " " + args; }
  test::TempDir dir_;
  ImageSet train_, test_;
  LabelSet train_labels_, test_labels_;
};

void ExpectUsageError(const test::CliResult& r, const std::string& words) {
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("Epoch: 1."), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Iteration: 1."), std::string::npos) << r.out;
}

TEST_F(OptionsApply, SgdAndCudaFlagsWithLbfgsAreRefused) {
  for (const std::string flag : {"--profile-epoch 1", "--kernel cublas", "--cuda-graphs off"}) {
    SCOPED_TRACE(flag);
    const std::string name = flag.substr(0, flag.find(' '));
    ExpectUsageError(RunCli(Train("--device cpu --solver lbfgs " + flag)),
                     name + " applies to --solver sgd only, not --solver lbfgs");
  }
}

TEST_F(OptionsApply, CudaFlagsOnACpuBackendAreRefused) {
  for (const std::string device : {"cpu", "reference"}) {
    for (const std::string flag : {"--profile-epoch 1", "--residency device", "--cuda-graphs off", "--kernel cublas"}) {
      SCOPED_TRACE(device + " " + flag);
      const std::string name = flag.substr(0, flag.find(' '));
      ExpectUsageError(RunCli(Train("--device " + device + " --epochs 1 " + flag)),
                       name + " applies to the CUDA backend only, and this run trains on " + device);
    }
  }
  for (const std::string flag : {"--cuda-graphs off", "--kernel cublas"}) {
    SCOPED_TRACE(flag);
    ExpectUsageError(RunCli(Train("--device cuda --residency stream --epochs 1 " + flag)),
                     flag.substr(0, flag.find(' ')) + " applies to --residency device only");
  }
}

TEST_F(OptionsApply, CudaFlagsAreRefusedWhenDeviceAutoChoosesTheCpu) {
  const CudaProbe probe = probe_cuda();
  if (probe.usable && !probe.emulated) GTEST_SKIP() << "--device auto picks the GPU here";
  const auto r = RunCli(Train("--epochs 1 --kernel cublas"));
  ExpectUsageError(r, "--kernel applies to the CUDA backend only, and this run trains on cpu");
  EXPECT_NE(r.err.find("--device auto found no usable GPU"), std::string::npos) << r.err;
}

TEST_F(OptionsApply, FlagsThatWouldDoNothingAreRefused) {
  ExpectUsageError(RunCli(Train("--device cpu --epochs 1 --lr-step 5")),
                   "--lr-step applies to --lr-schedule step only, not --lr-schedule constant");
  ExpectUsageError(RunCli(Train("--device cpu --epochs 1 --lr-schedule cosine --lr-gamma 0.5")),
                   "--lr-gamma applies to --lr-schedule step only, not --lr-schedule cosine");
  ExpectUsageError(RunCli(Train("--device cpu --solver lbfgs --seed 3")),
                   "--seed: --solver lbfgs starts from zeros and uses the seed only for the validation split");
  EXPECT_EQ(RunCli(Train("--device cpu --solver lbfgs --seed 3 --val-split 0.2 --max-iter 3")).exit_code, 0);
}

TEST_F(OptionsApply, ShowScaleWithoutOutIsRefused) {
  const auto r = RunCli("show --data " + dir_.path() + " --scale 4");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.err.find("--scale applies to the PNG that --out writes; without --out it does nothing"), std::string::npos)
      << r.err;
  EXPECT_EQ(RunCli("show --data " + dir_.path() + " --scale 4 --out " + dir_.file("s.png")).exit_code, 0);
}

TEST_F(OptionsApply, ACValueGivenTwiceIsRefused) {
  for (const std::string cs : {"1,1", "1,1.0", "0.1,inf,1,inf", "1e-1,0.1"}) {
    SCOPED_TRACE(cs);
    ExpectUsageError(RunCli(Train("--device cpu --solver lbfgs --val-split 0.2 --C " + cs)),
                     "--C: expected each value once, got '" + cs + "'");
  }
}

TEST_F(OptionsApply, ALongCListIsEchoedShort) {
  std::string cs;
  for (int i = 1; i <= 200; ++i) cs += std::to_string(i) + ",";
  cs += "7";
  const auto r = RunCli(Train("--device cpu --solver lbfgs --val-split 0.2 --C " + cs));
  ExpectUsageError(r, "--C: expected each value once, got '" + cs.substr(0, 40) + "...' (C 7 is there twice");
  EXPECT_LT(r.err.size(), 300u) << r.err;
}

TEST_F(OptionsApply, ResumingAnLbfgsModelIsRefused) {
  const std::string model = dir_.file("lbfgs.lrm");
  ASSERT_EQ(RunCli(Train("--device cpu --solver lbfgs --max-iter 5 --save " + model)).exit_code, 0);
  for (const std::string extra : {"", " --epochs 3"}) {
    SCOPED_TRACE(extra);
    ExpectUsageError(RunCli(Train("--device cpu --resume " + model + extra)),
                     "--resume " + model + ": the model was fitted by --solver lbfgs");
  }
}

TEST_F(OptionsApply, OneCWithAValidationSplitReportsTheHeldOutScore) {
  const std::string model = dir_.file("m.lrm");
  const auto r = RunCli(Train("--device cpu --solver lbfgs --val-split 0.2 --max-iter 20 --save " + model));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("on the 40 held-out rows (not fitted)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Validation: loss "), std::string::npos) << r.out;
  const nlohmann::json s = nlohmann::json::parse(load_model_file(model).settings_json);
  EXPECT_EQ(s["lbfgs_result"]["val_rows"], 40);
  EXPECT_TRUE(s["lbfgs_result"]["val_accuracy"].is_number()) << s.dump();
}

TEST_F(OptionsApply, AFileBothRawAndGzippedIsAmbiguous) {
  write_idx_images(dir_.file("train-images-idx3-ubyte.gz"), train_, /*gzip=*/true);
  const auto r = RunCli(Train("--device cpu --epochs 1"));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("ambiguous data files: " + dir_.file("train-images-idx3-ubyte") + " and " +
                       dir_.file("train-images-idx3-ubyte.gz") + " are both there"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("Epoch: 1."), std::string::npos) << r.out;
  // In a torchvision layout too, and for info.
  const std::string raw = dir_.file("tv/MNIST/raw");
  fs::create_directories(raw);
  for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"}) {
    fs::copy_file(dir_.file(name), raw + "/" + name);
  }
  write_idx_labels(raw + "/t10k-labels-idx1-ubyte.gz", test_labels_, /*gzip=*/true);
  const auto info = RunCli("info --data " + dir_.file("tv"));
  EXPECT_EQ(info.exit_code, 3) << info.output;
  EXPECT_NE(info.err.find(raw + "/t10k-labels-idx1-ubyte and " + raw + "/t10k-labels-idx1-ubyte.gz"), std::string::npos)
      << info.err;
}

}  // namespace
}  // namespace logreg
