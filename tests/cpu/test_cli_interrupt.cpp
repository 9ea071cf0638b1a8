// SIGINT / SIGTERM / SIGHUP during `train`: the run stops after the current step, writes the model of the
// last complete epoch atomically with --save, leaves a complete metrics file, and exits with 130 / 143 / 129.
// During an L-BFGS regularisation path, the saved model's record says which C's iterate it is; during --cv's
// folds nothing is saved and the message says so; a Newton-CG fit stops and saves the same way. A .gz data file truncated while it is read is an error, never a SIGBUS.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include <nlohmann/json.hpp>
#include "test_support.hpp"

extern char** environ;

namespace logreg {
namespace {

const char* SignalName(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"; }

int CountLines(const std::string& path) { return static_cast<int>(test::FileLines(path).size()); }

// Starts `args` (the executable first) with stdout and stderr written to the files named (created), and returns
// its pid (-1 when it could not be started).
pid_t Spawn(std::vector<std::string> args, const std::string& out, const std::string& err) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

using test::ReadAll;

// Polls `done` every 20 ms for up to 60 s; whether it came true.
bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// Waits up to 60 s until the file `out` holds `text`; whether it does.
bool WaitForOutput(const std::string& out, const std::string& text) {
  return WaitUntil([&] { return ReadAll(out).find(text) != std::string::npos; });
}

// Sends `sig` to `pid` and waits for it to end: its exit code, or -1 (with a test failure) when it could not be
// signalled or ended by a signal instead of exiting.
int SignalAndWait(pid_t pid, int sig) {
  if (kill(pid, sig) != 0) {
    ADD_FAILURE() << "kill(" << pid << ", " << SignalName(sig) << ") failed";
    return -1;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "waitpid(" << pid << ") failed";
    return -1;
  }
  if (!WIFEXITED(status)) {
    ADD_FAILURE() << "killed by signal " << WTERMSIG(status);
    return -1;
  }
  return WEXITSTATUS(status);
}

class TrainInterrupt : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 3000, 100, 10, 28, 31);
  }

  // Starts `args` (stdout to out_, stderr to err_), sends SIGINT once out_ holds `text` and expects the exit
  // code 130.
  void InterruptOnceOutputHolds(const std::vector<std::string>& args, const std::string& text) {
    const pid_t pid = Spawn(args, out_, err_);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(WaitForOutput(out_, text)) << "no \"" << text << "\" in 60 s:\n" << ReadAll(out_);
    ASSERT_EQ(SignalAndWait(pid, SIGINT), 130) << ReadAll(out_);
  }

  test::TempDir dir_;
  const std::string out_ = dir_.file("stdout.txt");
  const std::string err_ = dir_.file("stderr.txt");
};

TEST_P(TrainInterrupt, StopsSavesAndExitsWithSignalCode) {
  const int sig = GetParam();
  const std::string model = dir_.file("model.bin");
  const std::string metrics = dir_.file("metrics.csv");
  const std::string data = dir_.path();
  std::vector<std::string> args = {LOGREG_CUDA_EXE, "train", "--device", "cpu", "--epochs", "100000",
                                   "--batch-size", "8", "--data", data, "--save", model, "--metrics", metrics};
  const pid_t pid = Spawn(args, "/dev/null", err_);
  ASSERT_GT(pid, 0);

  // Two epochs in the metrics file: its header and 2 rows.
  ASSERT_TRUE(WaitUntil([&] { return CountLines(metrics) >= 3; })) << "training did not reach 2 epochs in 60 s";
  ASSERT_EQ(SignalAndWait(pid, sig), 128 + sig);  // 130 SIGINT, 143 SIGTERM, 129 SIGHUP

  const ModelFile mf = load_model_file(model);
  const int rows = CountLines(metrics) - 1;  // the header is the first line
  EXPECT_EQ(static_cast<int>(mf.epochs_done), rows) << "the model counts the epochs the metrics file holds";
  const std::string text = ReadAll(err_);
  EXPECT_NE(text.find(std::string("interrupted by ") + SignalName(sig)), std::string::npos) << text;
  EXPECT_NE(text.find("model saved to"), std::string::npos) << text;
}

TEST_F(TrainInterrupt, DuringTheRegularisationPathSavesThatCsIterateAndSaysSo) {
  const std::string model = dir_.file("model.bin");
  // C 0.001 converges in a few iterations (its line ends the path's first C); C 1000 at tol 1e-12 on separable
  // rows runs until interrupted.
  ASSERT_NO_FATAL_FAILURE(InterruptOnceOutputHolds(
      {LOGREG_CUDA_EXE, "train", "--device", "cpu", "--solver", "lbfgs", "--C", "0.001,1000", "--tol", "1e-12",
       "--max-iter", "1000000", "--val-split", "0.2", "--data", dir_.path(), "--save", model},
      "C: 0.001."));
  EXPECT_EQ(ReadAll(out_).find("Best C"), std::string::npos) << "the path did not end";

  const std::string err = ReadAll(err_);
  EXPECT_NE(err.find("interrupted by SIGINT during the regularisation path"), std::string::npos) << err;
  EXPECT_NE(err.find("model saved to"), std::string::npos) << err;
  const ModelFile mf = load_model_file(model);
  const nlohmann::json record = nlohmann::json::parse(mf.settings_json);
  ASSERT_TRUE(record.contains("lbfgs_result")) << mf.settings_json;
  const nlohmann::json& result = record["lbfgs_result"];
  EXPECT_EQ(result["stopped"], true);
  EXPECT_EQ(result["stopped_in"], "regularisation path");
  EXPECT_EQ(result["C"], 1000.0);
  EXPECT_GT(result["iterations"].get<int>(), 0);
  EXPECT_EQ(result["fit_rows"], 2400);  // the training rows of the split, not all 3000
  EXPECT_FALSE(record.contains("C_chosen")) << "no C was chosen: " << mf.settings_json;
}

TEST_F(TrainInterrupt, DuringCrossValidationSavesNothingAndSaysSo) {
  const std::string model = dir_.file("model.bin");
  // C 1e12 at tol 1e-300 on separable rows runs until interrupted, in the folds: the weights grow without a
  // penalty to stop them, and the gradient never reaches the tolerance. The folds start right after the line
  // "Optimizer:" and print nothing until they end (about 0.3 s here, idle): the interrupt follows within one
  // 20 ms poll.
  ASSERT_NO_FATAL_FAILURE(InterruptOnceOutputHolds(
      {LOGREG_CUDA_EXE, "train", "--device", "cpu", "--solver", "lbfgs", "--C", "1e12,0.001", "--cv", "2", "--tol",
       "1e-300", "--max-iter", "1000000", "--data", dir_.path(), "--save", model},
      "Optimizer:"));
  EXPECT_EQ(ReadAll(out_).find("Best C"), std::string::npos) << "the folds did not end";
  const std::string err = ReadAll(err_);
  EXPECT_NE(err.find("interrupted by SIGINT during cross-validation (no model fitted on all rows; nothing saved)"),
            std::string::npos)
      << err;
  EXPECT_FALSE(std::ifstream(model).good()) << "no model is saved from a fold's fit";
}

// A .gz data file cut short by another process while logreg_cuda decodes it: the reader holds its own copy of
// the compressed bytes (a mapping of the file would fault, killing the process with SIGBUS). Each attempt
// truncates at another moment; every run must end with an exit code (0 when the read came first, 3 for
// the truncated stream), never a signal.
TEST(TruncatedWhileRead, AGzDataFileCutShortIsAnErrorNotASignal) {
  test::TempDir dir;
  ImageSet images;
  images.count = 30000;
  images.rows = 28;
  images.cols = 28;
  images.pixels.resize(std::size_t{30000} * 784);
  for (std::size_t i = 0; i < images.pixels.size(); ++i) images.pixels[i] = static_cast<std::uint8_t>((i * 7 + i / 784) % 251);
  LabelSet labels;
  labels.labels.assign(30000, 0);
  for (std::size_t i = 0; i < 30000; ++i) labels.labels[i] = static_cast<std::uint8_t>(i % 10);
  ImageSet test_images = test::RandomImages(10, 28, 28, 5);
  LabelSet test_labels;
  test_labels.labels = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  write_idx_images(dir.file("pristine.gz"), images, /*gzip=*/true);
  write_idx_labels(dir.file("train-labels-idx1-ubyte"), labels);
  write_idx_images(dir.file("t10k-images-idx3-ubyte"), test_images);
  write_idx_labels(dir.file("t10k-labels-idx1-ubyte"), test_labels);
  const std::string target = dir.file("train-images-idx3-ubyte.gz");
  const auto full = std::filesystem::file_size(dir.file("pristine.gz"));
  for (int attempt = 0; attempt < 12; ++attempt) {
    std::filesystem::copy_file(dir.file("pristine.gz"), target, std::filesystem::copy_options::overwrite_existing);
    std::vector<std::string> args = {LOGREG_CUDA_EXE, "info", "--data", dir.path()};
    const pid_t pid = Spawn(args, "/dev/null", "/dev/null");
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * attempt));
    std::filesystem::resize_file(target, full / 3);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_FALSE(WIFSIGNALED(status)) << "attempt " << attempt << ": killed by signal " << WTERMSIG(status);
    const int code = WEXITSTATUS(status);
    EXPECT_TRUE(code == 0 || code == 3) << "attempt " << attempt << ": exit " << code;
  }
}

// --solver newton-cg runs through the same run: an interrupt stops it after the current step, saves that
// iterate with a record saying it stopped, and names the solver. (--C inf on separable rows has no optimum; the
// reference backend's scalar passes make the whole fit take tens of seconds, the first steps well under one.)
TEST_F(TrainInterrupt, NewtonCgStopsAfterTheCurrentStepAndSaves) {
  const std::string model = dir_.file("model.bin");
  ASSERT_NO_FATAL_FAILURE(InterruptOnceOutputHolds(
      {LOGREG_CUDA_EXE, "train", "--device", "reference", "--solver", "newton-cg", "--C", "inf", "--tol", "1e-12",
       "--max-iter", "1000000", "--eval-every", "0", "--data", dir_.path(), "--save", model},
      "Iteration: 2."));  // a second Newton step
  EXPECT_EQ(ReadAll(out_).find("Solver: newton-cg."), std::string::npos) << "the fit ended before the signal";
  const std::string err = ReadAll(err_);
  EXPECT_NE(err.find("interrupted by SIGINT after"), std::string::npos) << err;
  EXPECT_NE(err.find("Newton-CG iterations; model saved to"), std::string::npos) << err;
  const nlohmann::json record = nlohmann::json::parse(load_model_file(model).settings_json);
  EXPECT_EQ(record["solver"], "newton-cg");
  EXPECT_EQ(record["lbfgs_result"]["stopped"], true);
  EXPECT_GE(record["lbfgs_result"]["iterations"].get<int>(), 2);
}

INSTANTIATE_TEST_SUITE_P(Signals, TrainInterrupt, ::testing::Values(SIGINT, SIGTERM, SIGHUP),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(SignalName(info.param));
                         });

}  // namespace
}  // namespace logreg
