// The CUDA backend as a run-time module (src/cuda/cuda_module.hpp, src/train/cuda_module_loader.cpp), through
// the executable: a missing module, one from another build or a library that is not one is a probe that says
// why (auto falls back to the CPU saying so, --device cuda fails naming it), and commands that never ask for
// CUDA never load it. LOGREG_CUDA_MODULE points the executable at the stand-ins of fake_cuda_module.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

class CudaModule : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 200, 50, 3, 4, 11);
  }
  std::string with_module(const std::string& path) const {
    return "LOGREG_CUDA_MODULE=" + path + " LOGREG_FAKE_MODULE_MARKER=" + marker() + " ";
  }
  std::string marker() const { return dir_.file("module-loaded"); }
  test::TempDir dir_;
};

TEST_F(CudaModule, MissingModuleIsAProbeThatSaysWhy) {
  const std::string missing = dir_.file("no-such-module.so");
  auto r = test::RunCli("train --device cuda --epochs 1 --data " + dir_.path(), with_module(missing));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("the CUDA module could not be loaded (" + missing), std::string::npos) << r.output;
  r = test::RunCli("train --device auto --epochs 1 --data " + dir_.path(), with_module(missing));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.err.find("the CUDA module could not be loaded"), std::string::npos) << r.output;
  EXPECT_NE(r.err.find("training on the CPU"), std::string::npos) << r.output;
}

TEST_F(CudaModule, ModuleFromAnotherBuildIsRefused) {
  const auto r = test::RunCli("train --device cuda --epochs 1 --data " + dir_.path(), with_module(LOGREG_FAKE_MODULE_OTHER_ABI));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("is from another build ('logreg_cuda_module 0 another build'"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(marker())) << "the module was never loaded";
}

TEST_F(CudaModule, LibraryWithoutEntryPointsIsRefused) {
  const auto r = test::RunCli("train --device auto --epochs 1 --data " + dir_.path(), with_module(LOGREG_FAKE_MODULE_BARE));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.err.find("lacks its entry points"), std::string::npos) << r.output;
  EXPECT_NE(r.err.find("training on the CPU"), std::string::npos) << r.output;
}

TEST_F(CudaModule, CommandsThatNeedNoCudaNeverLoadIt) {
  const std::string module = with_module(LOGREG_FAKE_MODULE_OTHER_ABI);
  for (const std::string& args : {std::string("--version"), "info --data " + dir_.path(),
                                  "train --device cpu --epochs 1 --data " + dir_.path(),
                                  "train --device reference --solver lbfgs --max-iter 2 --data " + dir_.path()}) {
    const auto r = test::RunCli(args, module);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(marker())) << args << " loaded the CUDA module";
  }
  const auto r = test::RunCli("train --device auto --epochs 1 --data " + dir_.path(), module);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(marker())) << "--device auto did not load the module: " << r.output;
}

}  // namespace
}  // namespace logreg
