// Outputs: a symlinked output is written through (the link stays), special files and directories
// are refused before any work and left as they were, an output may not be an input or another output, the
// temporary name is checked in the pre-flight, a second writer is refused (advisory lock); SIGPIPE/EPIPE,
// SIGXFSZ and a failing stdout end with a message and exit 5, the model saved.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "logreg/checked_files.hpp"
#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

namespace fs = std::filesystem;
using test::RunCli;

using test::ReadAll;

bool NoTemporaries(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return false;
  }
  return true;
}

class OutputFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 200, 40, 4, 12, 41);
  }
  std::string Train(const std::string& extra) const {
    return "train --device cpu --lr 0.05 --batch-size 16 --seed 4 --data " + dir_.path() + " " + extra;
  }
  std::string Model() {
    const std::string m = dir_.file("base.lrm");
    if (!fs::exists(m)) EXPECT_EQ(RunCli(Train("--epochs 1 --save " + m)).exit_code, 0);
    return m;
  }
  test::TempDir dir_;
};

TEST_F(OutputFiles, SymlinkedOutputsAreWrittenThroughAndTheLinkStays) {
  fs::create_directory(dir_.file("real"));
  const std::string target = dir_.file("real/model.lrm");
  const std::string link = dir_.file("link.lrm");
  fs::create_symlink("real/model.lrm", link);  // relative, dangling until the save
  const auto r = RunCli(Train("--epochs 1 --save " + link + " --metrics " + dir_.file("m.csv")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_TRUE(fs::is_regular_file(target));
  EXPECT_EQ(load_model_file(link).epochs_done, 1u);
  // A second save through the link replaces the file it names, atomically; the link still stays.
  ASSERT_EQ(RunCli(Train("--epochs 2 --save " + link)).exit_code, 0);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(load_model_file(target).epochs_done, 2u);
  EXPECT_TRUE(NoTemporaries(dir_.file("real")));
  // predict --out, show --out and metrics through links too.
  fs::create_symlink("real/p.csv", dir_.file("p.csv"));
  ASSERT_EQ(RunCli("predict --model " + link + " --images " + dir_.file("t10k-images-idx3-ubyte") + " --all --out " +
                   dir_.file("p.csv")).exit_code, 0);
  EXPECT_TRUE(fs::is_symlink(dir_.file("p.csv")));
  EXPECT_GT(fs::file_size(dir_.file("real/p.csv")), 0u);
  fs::create_symlink("real/m2.csv", dir_.file("m2.csv"));
  ASSERT_EQ(RunCli(Train("--epochs 1 --metrics " + dir_.file("m2.csv"))).exit_code, 0);
  EXPECT_TRUE(fs::is_symlink(dir_.file("m2.csv")));
  EXPECT_EQ(ReadAll(dir_.file("real/m2.csv")).rfind("epoch,", 0), 0u);
}

TEST_F(OutputFiles, SpecialFilesAreRefusedBeforeAnyWorkAndLeftAsTheyWere) {
  const std::string fifo = dir_.file("fifo.csv");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  const std::string sock = dir_.file("sock.lrm");
  const int s = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  fs::create_symlink("/dev/null", dir_.file("null-link.lrm"));
  const std::string model = Model();
  const std::string images = dir_.file("t10k-images-idx3-ubyte");
  struct Case {
    std::string args, words;
  };
  const std::vector<Case> cases = {
      {Train("--epochs 1 --save /dev/null"), "--save /dev/null: is a character device"},
      {Train("--epochs 1 --save " + dir_.file("null-link.lrm")), "is a character device (the symbolic link's target /dev/null)"},
      {Train("--epochs 1 --metrics " + fifo), "--metrics " + fifo + ": is a FIFO"},
      {Train("--epochs 1 --save " + sock), "is a socket"},
      {Train("--epochs 1 --save " + dir_.path()), "--save " + dir_.path() + ": is a directory"},
      {Train("--epochs 1 --save " + dir_.path() + "/"), "names a directory"},
      {"predict --model " + model + " --images " + images + " --all --out /dev/null", "--out /dev/null: is a character device"},
      {"predict --model " + model + " --images " + images + " --all --out " + fifo, "is a FIFO"},
      {"export --model " + model + " --out " + fifo + ".onnx --format onnx", ""},
      {"show --data " + dir_.path() + " --out /dev/full", "--out /dev/full: is a character device"},
  };
  ASSERT_EQ(mkfifo((fifo + ".onnx").c_str(), 0644), 0);
  for (const Case& c : cases) {
    const auto r = RunCli(c.args);
    EXPECT_EQ(r.exit_code, 5) << c.args << "\n" << r.output;
    EXPECT_NE(r.err.find(c.words), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.out.find("Epoch:"), std::string::npos) << "refused before any work: " << c.args;
  }
  struct stat st {};
  EXPECT_EQ(stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_TRUE(fs::is_fifo(fifo + ".onnx"));
  EXPECT_TRUE(fs::is_socket(sock));
  EXPECT_TRUE(fs::is_symlink(dir_.file("null-link.lrm")));
  close(s);
}

TEST_F(OutputFiles, AnOutputThatIsAnInputOrAnotherOutputIsRefused) {
  const std::string model = Model();
  const std::string images = dir_.file("t10k-images-idx3-ubyte");
  const std::string images_before = ReadAll(images);
  const std::string model_before = ReadAll(model);
  fs::create_symlink(images, dir_.file("images-link"));
  struct Case {
    std::string args, words;
  };
  const std::vector<Case> cases = {
      {"predict --model " + model + " --images " + images + " --all --out " + images,
       "--out " + images + " is the same file as --images"},
      {"predict --model " + model + " --images " + images + " --all --out " + dir_.file("images-link"), "is the same file as --images"},
      {"predict --model " + model + " --images " + images + " --all --out " + model, "is the same file as --model"},
      {Train("--epochs 1 --save " + dir_.file("x.csv") + " --metrics " + dir_.file("x.csv")), "two outputs cannot share a file"},
      {Train("--epochs 1 --save " + images), "is the same file as --data file"},
      {Train("--epochs 1 --metrics " + dir_.file("train-labels.csv") + " --save " + dir_.file("train-labels.csv.json")),
       "two outputs cannot share a file"},
      {Train("--epochs 1 --init " + model + " --save " + model), "is the same file as --init"},
      {"export --model " + model + " --format onnx --out " + model, "--out " + model + " is the same file as --model"},
      {"show --data " + dir_.path() + " --out " + images, "is the same file as --data file"},
  };
  for (const Case& c : cases) {
    const auto r = RunCli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.err.find(c.words), std::string::npos) << c.args << "\n" << r.err;
  }
  EXPECT_EQ(ReadAll(images), images_before);
  EXPECT_EQ(ReadAll(model), model_before);
  // --save may name the model --resume reads: it is read whole, then replaced atomically.
  const auto r = RunCli(Train("--epochs 2 --resume " + model + " --save " + model));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(load_model_file(model).epochs_done, 2u);
}

TEST_F(OutputFiles, TheTemporaryNameIsCheckedInThePreFlight) {
  // 245 to 255 characters pass for the name itself, but not with ".tmp.XXXXXX" after them.
  for (std::size_t n : {245u, 250u, 255u}) {
    const std::string name = std::string(n - 4, 'm') + ".lrm";
    const auto r = RunCli(Train("--epochs 1 --save " + dir_.file(name)));
    EXPECT_EQ(r.exit_code, 5) << n << "\n" << r.output;
    EXPECT_NE(r.err.find("with the temporary suffix"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Epoch:"), std::string::npos) << "refused before training";
  }
  const std::string name = std::string(240, 'm') + ".lrm";  // 244 + 11 = 255: fits
  EXPECT_EQ(RunCli(Train("--epochs 1 --save " + dir_.file(name))).exit_code, 0);
}

TEST_F(OutputFiles, ASecondWriterOfTheSameModelOrMetricsFileIsRefused) {
  const std::string model = dir_.file("locked.lrm");
  const std::string csv = dir_.file("locked.csv");
  {
    const OutputLock held("--save", model);  // as a running train --save holds it
    const auto r = RunCli(Train("--epochs 1 --save " + model));
    EXPECT_EQ(r.exit_code, 5) << r.output;
    EXPECT_NE(r.err.find("--save " + model + ": another logreg_cuda process is writing this file"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(model));
  }
  EXPECT_FALSE(fs::exists(dir_.file(".locked.lrm.lock"))) << "the lock file is removed by the process that made it";
  ASSERT_EQ(RunCli(Train("--epochs 1 --metrics " + csv)).exit_code, 0);
  const std::string before = ReadAll(csv);
  const int fd = open(csv.c_str(), O_RDONLY);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);  // as a running train --metrics holds it
  const auto r = RunCli(Train("--epochs 2 --metrics " + csv));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("--metrics " + csv + ": another logreg_cuda process is writing this file"), std::string::npos) << r.err;
  EXPECT_EQ(ReadAll(csv), before) << "the other run's file is untouched";
  close(fd);
}

// `train | head -1`: SIGPIPE is ignored, the EPIPE stops training at the end of the epoch with the model
// saved and exit 5.
TEST_F(OutputFiles, AClosedPipeOnStdoutStopsTrainingWithTheModelSaved) {
  const std::string model = dir_.file("piped.lrm");
  const std::string cmd = "(" + std::string(LOGREG_CUDA_EXE) + " " + Train("--epochs 100000 --save " + model) + " 2>" +
                          dir_.file("err.txt") + "; echo $? >" + dir_.file("rc.txt") + ") | head -c 1 >/dev/null";
  ASSERT_EQ(std::system(("timeout 120 sh -c '" + cmd + "'").c_str()), 0);
  EXPECT_EQ(std::atoi(ReadAll(dir_.file("rc.txt")).c_str()), 5);
  const std::string err = ReadAll(dir_.file("err.txt"));
  EXPECT_NE(err.find("standard output failed (Broken pipe)"), std::string::npos) << err;
  EXPECT_NE(err.find("model saved to " + model), std::string::npos) << err;
  EXPECT_GE(load_model_file(model).epochs_done, 0u);
  EXPECT_TRUE(NoTemporaries(dir_.path()));
}

// No `trap '' XFSZ` here: the program itself ignores SIGXFSZ, so the limit is a clear error.
TEST_F(OutputFiles, AFileSizeLimitIsFileTooLargeWithExit5AndNoTemporary) {
  const std::string model = dir_.file("big.lrm");
  const auto r = RunCli(Train("--epochs 1 --save " + model), "prlimit --fsize=1000 ");
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("cannot write " + model + ": write: File too large"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(model));
  EXPECT_TRUE(NoTemporaries(dir_.path()));
  const auto p = RunCli("predict --model " + Model() + " --images " + dir_.file("t10k-images-idx3-ubyte") + " --all --out " +
                            dir_.file("p.csv"),
                        "prlimit --fsize=100 ");
  EXPECT_EQ(p.exit_code, 5) << p.output;
  EXPECT_NE(p.err.find("File too large"), std::string::npos) << p.err;
  EXPECT_TRUE(NoTemporaries(dir_.path()));
}

TEST_F(OutputFiles, AFailingStdoutIsExit5NeverASilentSuccess) {
  for (const std::string& redirect : {std::string(" >/dev/full"), std::string(" >&-")}) {
    const std::string cmd = std::string(LOGREG_CUDA_EXE) + " info --data " + dir_.path() + redirect + " 2>" +
                            dir_.file("err.txt");
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 5) << redirect;
    EXPECT_NE(ReadAll(dir_.file("err.txt")).find("writing to standard output failed"), std::string::npos) << redirect;
  }
  // A closed stdout is not taken over by the next file opened (the metrics file stays clean).
  const std::string csv = dir_.file("clean.csv");
  const std::string cmd = std::string(LOGREG_CUDA_EXE) + " " + Train("--epochs 1 --metrics " + csv) + " >&- 2>/dev/null";
  const int status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 5);
  EXPECT_EQ(ReadAll(csv).find("Epoch:"), std::string::npos);
}

}  // namespace
}  // namespace logreg
