// Resume and data: --resume restores every trajectory setting (a given flag wins with a warning)
// and a run interrupted mid-epoch resumes bit-identical to a straight run on both CPU backends; model-file
// fields and saved settings are range-checked; gzip stops at the header's size; FIFO inputs are refused;
// partial data directories are errors; torchvision layouts; data fingerprints; degenerate data; float
// options checked as float32; the metrics file on --resume; defaults that pick data are recorded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

namespace fs = std::filesystem;
using test::RunCli;

using test::FileLines;

void WriteSet(const std::string& dir, std::uint32_t train_rows, std::uint32_t test_rows, int classes, std::uint32_t side,
              std::uint64_t seed) {
  ImageSet train, test;
  LabelSet train_labels, test_labels;
  test::SeparableSet(train_rows, classes, side, seed, &train, &train_labels);
  test::SeparableSet(test_rows, classes, side, seed + 1, &test, &test_labels);
  fs::create_directories(dir);
  write_idx_images(dir + "/train-images-idx3-ubyte", train);
  write_idx_labels(dir + "/train-labels-idx1-ubyte", train_labels);
  write_idx_images(dir + "/t10k-images-idx3-ubyte", test);
  write_idx_labels(dir + "/t10k-labels-idx1-ubyte", test_labels);
}

class ResumeAndData : public ::testing::Test {
 protected:
  void SetUp() override { WriteSet(dir_.path(), 240, 40, 4, 12, 51); }
  std::string Data() const { return " --data " + dir_.path() + " "; }
  test::TempDir dir_;
};

// Early stopping's state goes into the saved record (what --resume continues from): the best validation loss so
// far and its epoch, the same as the epoch lines show.
TEST_F(ResumeAndData, TheSavedRecordHoldsEarlyStoppingsState) {
  const std::string model = dir_.file("es.lrm");
  const auto r = RunCli("train --device cpu" + Data() + "--epochs 3 --val-split 0.25 --early-stop 5 --lr 0.05 --save " + model);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json record = nlohmann::json::parse(load_model_file(model).settings_json);
  ASSERT_TRUE(record.contains("early_stop_state")) << record.dump();
  const double best = record["early_stop_state"]["best_val_loss"].get<double>();
  const int epoch = record["early_stop_state"]["best_val_epoch"].get<int>();
  EXPECT_GE(epoch, 1);
  EXPECT_LE(epoch, 3);
  char expected[64];
  std::snprintf(expected, sizeof expected, "Val loss: %.4f", best);
  EXPECT_NE(r.out.find("Epoch: " + std::to_string(epoch) + ". "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(expected), std::string::npos) << "no epoch line shows the recorded best loss " << best << "\n" << r.out;
}

// Every trajectory setting is restored: a resume with no flag but --epochs continues the straight run.
TEST_F(ResumeAndData, ResumeRestoresEveryTrajectorySettingBitIdentically) {
  for (const std::string device : {"cpu", "reference"}) {
    SCOPED_TRACE(device);
    const std::string settings = "--device " + device + Data() +
                                 "--lr 0.03 --momentum 0.9 --nesterov --weight-decay 0.001 --lr-schedule step --lr-step 1 "
                                 "--lr-gamma 0.5 --batch-size 8 --loss ovr --seed 7 --val-split 0.1 --early-stop 5 "
                                 "--limit-train 200 ";
    const std::string a = dir_.file(device + "_a.lrm"), b = dir_.file(device + "_b.lrm"), c = dir_.file(device + "_c.lrm");
    ASSERT_EQ(RunCli("train " + settings + "--epochs 4 --save " + c).exit_code, 0);
    ASSERT_EQ(RunCli("train " + settings + "--epochs 2 --save " + a).exit_code, 0);
    const auto r = RunCli("train --device " + device + Data() + "--resume " + a + " --epochs 4 --save " + b);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("SGD lr 0.03 (step schedule), momentum 0.9 (Nesterov), weight decay 0.001, batch 8, epochs 3..4"),
              std::string::npos) << r.out;
    const ModelFile straight = load_model_file(c), resumed = load_model_file(b);
    EXPECT_EQ(resumed.epochs_done, 4u);
    EXPECT_EQ(resumed.model.head, LossHead::kOvr);
    EXPECT_EQ(resumed.seed, 7u);
    EXPECT_EQ(resumed.model.weights, straight.model.weights);
    EXPECT_EQ(resumed.model.bias, straight.model.bias);
    EXPECT_EQ(resumed.optimizer_state, straight.optimizer_state);
  }
}

TEST_F(ResumeAndData, AGivenFlagThatDiffersWinsWithAWarningNamingIt) {
  const std::string a = dir_.file("a.lrm");
  ASSERT_EQ(RunCli("train --device cpu" + Data() + "--lr 0.03 --momentum 0.5 --epochs 1 --save " + a).exit_code, 0);
  const auto r = RunCli("train --device cpu" + Data() + "--resume " + a + " --epochs 2 --lr 0.01 --momentum 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.err.find("warning: --lr 0.01 differs from the resumed run's 0.03"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--momentum"), std::string::npos) << "the same value is no difference: " << r.err;
  EXPECT_NE(r.out.find("momentum 0.5"), std::string::npos) << r.out;
}

// Interrupted mid-epoch: the saved model is the last complete epoch's, and resuming it gives the straight
// run's weights bit for bit, on both CPU backends.
TEST_F(ResumeAndData, AnInterruptedRunResumesBitIdenticalToAStraightRun) {
  WriteSet(dir_.file("big"), 3000, 50, 10, 28, 61);
  for (const std::string device : {"cpu", "reference"}) {
    SCOPED_TRACE(device);
    const std::string a = dir_.file(device + "_i.lrm"), b = dir_.file(device + "_r.lrm"), c = dir_.file(device + "_s.lrm");
    const std::string metrics = dir_.file(device + "_i.csv");
    const std::string common = "train --device " + device + " --data " + dir_.file("big") +
                               " --batch-size 4 --lr 0.01 --momentum 0.9 --seed 3 ";
    const std::string cmd = std::string(LOGREG_CUDA_EXE) + " " + common + "--epochs 1000 --save " + a + " --metrics " +
                            metrics + " >/dev/null 2>" + dir_.file("err.txt") + " & echo $!";
    FILE* p = popen(cmd.c_str(), "r");
    int pid = 0;
    ASSERT_EQ(fscanf(p, "%d", &pid), 1);
    pclose(p);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (FileLines(metrics).size() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(device == "cpu" ? 30 : 200));  // inside the next epoch
    ASSERT_EQ(kill(pid, SIGINT), 0);
    for (int i = 0; i < 1200 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const ModelFile interrupted = load_model_file(a);
    const unsigned done = interrupted.epochs_done;
    ASSERT_GE(done, 1u);
    const std::string total = std::to_string(done + 1);
    ASSERT_EQ(RunCli(common + "--epochs " + total + " --save " + c).exit_code, 0);
    const auto r = RunCli("train --device " + device + " --data " + dir_.file("big") + " --resume " + a + " --epochs " +
                          total + " --save " + b + " --metrics " + metrics);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const ModelFile straight = load_model_file(c), resumed = load_model_file(b);
    EXPECT_EQ(resumed.model.weights, straight.model.weights);
    EXPECT_EQ(resumed.model.bias, straight.model.bias);
    EXPECT_EQ(resumed.optimizer_state, straight.optimizer_state);
    // The metrics file continues after the epochs the model keeps: 1..done+1, each once.
    const auto lines = FileLines(metrics);
    ASSERT_EQ(lines.size(), done + 2u) << "header + one row per epoch";
    for (unsigned e = 1; e <= done + 1; ++e) EXPECT_EQ(lines[e].rfind(std::to_string(e) + ",", 0), 0u) << lines[e];
  }
}

TEST_F(ResumeAndData, ModelFileFieldsAndSavedSettingsAreRangeChecked) {
  const std::string a = dir_.file("a.lrm");
  ASSERT_EQ(RunCli("train --device cpu" + Data() + "--epochs 1 --save " + a).exit_code, 0);
  ModelFile mf = load_model_file(a);
  mf.epochs_done = 2147483648u;  // a valid CRC, a count no run can have
  save_model_file(dir_.file("epochs.lrm"), mf);
  for (const std::string cmd : {"eval --model " + dir_.file("epochs.lrm") + Data(),
                                "train --device cpu" + Data() + "--resume " + dir_.file("epochs.lrm") + " --epochs 5"}) {
    const auto r = RunCli(cmd);
    EXPECT_EQ(r.exit_code, 3) << cmd << "\n" << r.output;
    EXPECT_NE(r.err.find("epochs_done at byte 36: 2147483648 is outside [0, 1000000]"), std::string::npos) << r.err;
  }
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* words;
  };
  const std::vector<Case> cases = {{"lr", -1.0, "saved setting \"lr\": expected a number > 0, got '-1'"},
                                   {"lr", 1e-60, "saved setting \"lr\": expected a number > 0, got '1e-60' (underflows a 32-bit float"},
                                   {"momentum", 1.0, "saved setting \"momentum\": expected a number in [0, 1), got '1'"},
                                   {"batch_size", 0, "saved setting \"batch_size\": 0 is outside [1, 16777216]"},
                                   {"epochs", 4294967296ull, "saved setting \"epochs\": is outside"},
                                   {"lr_schedule", "linear", "saved setting \"lr_schedule\": 'linear' is not"},
                                   {"val_split", 1.5, "saved setting \"val_split\": expected a number in [0, 1), got '1.5'"},
                                   {"nesterov", "yes", "saved setting \"nesterov\": expected true or false"}};
  for (const Case& c : cases) {
    ModelFile bad = load_model_file(a);
    auto s = nlohmann::json::parse(bad.settings_json);
    s[c.key] = c.value;
    bad.settings_json = s.dump();
    save_model_file(dir_.file("bad.lrm"), bad);
    const auto r = RunCli("train --device cpu" + Data() + "--resume " + dir_.file("bad.lrm") + " --epochs 3");
    EXPECT_EQ(r.exit_code, 3) << c.key << "\n" << r.output;
    EXPECT_NE(r.err.find(dir_.file("bad.lrm") + ": " + c.words), std::string::npos) << c.key << "\n" << r.err;
  }
  const auto done = RunCli("train --device cpu" + Data() + "--resume " + a);  // its run had --epochs 50? no: 1
  EXPECT_EQ(done.exit_code, 2) << done.output;
  EXPECT_NE(done.err.find("give --epochs N with N > 1"), std::string::npos) << done.err;
}

// An IDX header promising 100 images of 28x28 in front of 64 MB of zeros: inflating stops one byte past.
TEST_F(ResumeAndData, GzipStopsAtTheHeadersSizePlusOneByte) {
  const std::string path = dir_.file("bomb-idx3-ubyte.gz");
  gzFile gz = gzopen(path.c_str(), "wb9");
  const unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28};
  gzwrite(gz, header, 16);
  const std::vector<char> zeros(1 << 20, 0);
  for (int i = 0; i < 64; ++i) gzwrite(gz, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(gz);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    load_idx_images(path);
    FAIL() << "accepted";
  } catch (const IdxError& e) {
    EXPECT_NE(std::string(e.what()).find("decompressed data runs past the 78416 bytes the IDX header promises"),
              std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.5);
  const auto r = RunCli("predict --model x --images " + path + " --all");
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(ResumeAndData, FifoInputsGetAClearErrorNeverAHang) {
  const std::string a = dir_.file("a.lrm");
  ASSERT_EQ(RunCli("train --device cpu" + Data() + "--epochs 1 --save " + a).exit_code, 0);
  const std::string fifo = dir_.file("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  fs::create_directory(dir_.file("fifodata"));
  WriteSet(dir_.file("fifodata"), 40, 10, 4, 12, 3);
  fs::remove(dir_.file("fifodata/t10k-labels-idx1-ubyte"));
  ASSERT_EQ(mkfifo(dir_.file("fifodata/t10k-labels-idx1-ubyte").c_str(), 0644), 0);
  const std::string images = dir_.file("t10k-images-idx3-ubyte");
  const std::vector<std::string> cmds = {
      "predict --model " + a + " --images " + fifo + " --all",
      "predict --model " + fifo + " --images " + images + " --all",
      "eval --model " + fifo + Data(),
      "export --model " + fifo + " --out " + dir_.file("x.onnx"),
      "train --device cpu" + Data() + "--resume " + fifo + " --epochs 2",
      "train --device cpu" + Data() + "--init " + fifo + " --epochs 2",
      "info --data " + dir_.file("fifodata"),
      "predict --model " + a + " --images /dev/zero --all",
  };
  for (const std::string& cmd : cmds) {
    const auto r = RunCli(cmd, "timeout 20 ");
    EXPECT_EQ(r.exit_code, 3) << cmd << "\n" << r.output;
    EXPECT_NE(r.err.find("expected a regular file"), std::string::npos) << cmd << "\n" << r.err;
  }
}

TEST_F(ResumeAndData, APartialDataDirectoryIsAnErrorNamingTheMissingFiles) {
  test::TempDir cwd;
  WriteSet(cwd.file("data"), 40, 10, 4, 12, 5);
  fs::remove(cwd.file("data/t10k-labels-idx1-ubyte"));
  const auto r = RunCli("info", "cd " + cwd.path() + " && ");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("./data: data has only some of the four IDX files: missing t10k-labels-idx1-ubyte[.gz]"),
            std::string::npos) << r.err;
  EXPECT_EQ(r.output.find("Fashion-MNIST"), std::string::npos) << "no silent fall-back";
  WriteSet(dir_.file("partial/FashionMNIST/raw"), 40, 10, 4, 12, 5);
  fs::remove(dir_.file("partial/FashionMNIST/raw/train-images-idx3-ubyte"));
  const auto p = RunCli("info --data " + dir_.file("partial"));
  EXPECT_EQ(p.exit_code, 3);
  EXPECT_NE(p.err.find("FashionMNIST/raw has only some of the four IDX files: missing train-images-idx3-ubyte[.gz]"),
            std::string::npos) << p.err;
}

TEST_F(ResumeAndData, TorchvisionLayoutsAreFound) {
  for (const std::string layout : {"MNIST", "FashionMNIST", "KMNIST"}) {
    test::TempDir root;
    WriteSet(root.file(layout + "/raw"), 40, 10, 4, 12, 5);
    const auto r = RunCli("info --data " + root.path());
    EXPECT_EQ(r.exit_code, 0) << layout << "\n" << r.output;
    const std::string name = layout == "FashionMNIST" ? "Fashion-MNIST" : layout;
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
  }
}

TEST_F(ResumeAndData, EvalAndPredictWarnWhenTheDataDiffer) {
  const std::string a = dir_.file("a.lrm");
  ASSERT_EQ(RunCli("train --device cpu" + Data() + "--epochs 1 --save " + a).exit_code, 0);
  WriteSet(dir_.file("other"), 100, 30, 4, 12, 9);
  const auto same = RunCli("eval --model " + a + Data());
  EXPECT_EQ(same.err.find("warning"), std::string::npos) << same.err;
  const auto e = RunCli("eval --model " + a + " --data " + dir_.file("other"));
  EXPECT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.err.find("warning: " + a + " was trained on other data than it is evaluated on"), std::string::npos) << e.err;
  // No --data: eval takes the data the model was trained on (not ./data or Fashion-MNIST), and says so.
  const auto d = RunCli("eval --model " + a, "cd " + dir_.file("other") + " && ");
  EXPECT_EQ(d.exit_code, 0) << d.output;
  EXPECT_NE(d.err.find("using the data " + a + " was trained on: " + dir_.path()), std::string::npos) << d.err;
  EXPECT_EQ(d.err.find("warning"), std::string::npos) << d.err;
  const auto p = RunCli("predict --model " + a + " --images " + dir_.file("other/t10k-images-idx3-ubyte") + " --index 0");
  EXPECT_EQ(p.exit_code, 0) << p.output;
  EXPECT_NE(p.err.find("warning: " + dir_.file("other/t10k-images-idx3-ubyte") + " has"), std::string::npos) << p.err;
}

TEST_F(ResumeAndData, DegenerateDataAndEarlyStopWithoutValidationRowsAreErrors) {
  WriteSet(dir_.file("one"), 40, 10, 1, 12, 5);
  const auto one = RunCli("train --device cpu --epochs 1 --data " + dir_.file("one"));
  EXPECT_EQ(one.exit_code, 3) << one.output;
  EXPECT_NE(one.err.find("a classifier needs at least 2 classes"), std::string::npos) << one.err;
  WriteSet(dir_.file("empty"), 40, 10, 4, 12, 5);
  write_idx_images(dir_.file("empty/t10k-images-idx3-ubyte"), ImageSet{"", 0, 12, 12, {}});
  write_idx_labels(dir_.file("empty/t10k-labels-idx1-ubyte"), LabelSet{"", {}});
  for (const std::string cmd : {"train --device cpu --epochs 1", "info"}) {
    const auto r = RunCli(cmd + " --data " + dir_.file("empty"));
    EXPECT_EQ(r.exit_code, 3) << cmd << "\n" << r.output;
    EXPECT_NE(r.err.find("the test set is empty"), std::string::npos) << r.err;
  }
  const auto es = RunCli("train --device cpu" + Data() + "--epochs 2 --val-split 0.001 --early-stop 2");
  EXPECT_EQ(es.exit_code, 2) << es.output;
  EXPECT_NE(es.err.find("--early-stop needs validation rows, but --val-split 0.001 of 240 training rows rounds to 0"),
            std::string::npos) << es.err;
}

TEST_F(ResumeAndData, FloatOptionsAreCheckedAsTheFloatsTheyBecome) {
  struct Case {
    std::string args, words;
  };
  const std::vector<Case> cases = {
      {"--lr 1e-50", "--lr: expected a number > 0, got '1e-50' (underflows a 32-bit float"},
      {"--lr 1e-40", "--lr: expected a number > 0, got '1e-40' (underflows"},
      {"--lr 1e39", "--lr: expected a number > 0, got '1e39' (overflows a 32-bit float"},
      {"--momentum 0.99999999999", "--momentum: expected a number in [0, 1), got '0.99999999999' (as a 32-bit float it is 1)"},
      {"--weight-decay 1e300", "--weight-decay: expected a number >= 0, got '1e300' (overflows a 32-bit float"},
      {"--weight-decay 1e-45", "--weight-decay: expected a number >= 0, got '1e-45' (underflows"},
      {"--lr-gamma 1e-300", "--lr-gamma: expected a number > 0, got '1e-300' (underflows"},
      {"--lr nan", "--lr: expected a number > 0, got 'nan'"},
      {"--momentum -0.1", "--momentum: expected a number in [0, 1), got '-0.1'"},
  };
  for (const Case& c : cases) {
    const auto r = RunCli("train --device cpu --epochs 1" + Data() + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.err.find(c.words), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.err.find("json.exception"), std::string::npos) << r.err;
  }
}

TEST_F(ResumeAndData, NonUtf8PathsNeverLeakJsonExceptions) {
  const std::string odd = dir_.file("caf\xe9");
  fs::create_directory(odd);
  WriteSet(odd, 40, 10, 4, 12, 5);
  const std::string model = odd + "/m\xff.lrm";
  const auto t = RunCli("train --device cpu --epochs 1 --data '" + odd + "' --save '" + model + "' --metrics '" + odd +
                        "/m\xfe.jsonl'");
  EXPECT_EQ(t.exit_code, 0) << t.output;
  const auto e = RunCli("eval --json --model '" + model + "' --data '" + odd + "'");
  EXPECT_EQ(e.exit_code, 0) << e.output;
  for (const auto& r : {t, e}) EXPECT_EQ(r.output.find("json.exception"), std::string::npos) << r.output;
  EXPECT_TRUE(nlohmann::json::parse(e.out)["model"].is_string());

  // A model whose settings hold bytes that are not UTF-8 exports to safetensors; a safetensors file without
  // our metadata, at a path that is not UTF-8, evaluates (its made-up settings name the path).
  ModelFile crafted = load_model_file(model);
  crafted.settings_json = "{\"note\": \"caf\xe9\"}";
  save_model_file(odd + "/crafted.lrm", crafted);
  const std::string st = odd + "/m\xfd.safetensors";
  const auto x = RunCli("export --model '" + odd + "/crafted.lrm' --out '" + st + "'");
  EXPECT_EQ(x.exit_code, 0) << x.output;
  {
    std::ifstream in(st, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 8u);
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)])) << (8 * i);
    nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
    header.erase("__metadata__");
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((text.size() >> (8 * i)) & 0xff));
    std::ofstream(st, std::ios::binary | std::ios::trunc) << out << text << bytes.substr(8 + n);
  }
  const auto y = RunCli("eval --json --model '" + st + "' --data '" + odd + "'");
  EXPECT_EQ(y.exit_code, 0) << y.output;
  for (const auto& r : {x, y}) EXPECT_EQ(r.output.find("json.exception"), std::string::npos) << r.output;
}

TEST_F(ResumeAndData, DefaultDataAreRecordedInTheModelAndTheMetrics) {
  test::TempDir cwd;
  WriteSet(cwd.file("data"), 40, 10, 4, 12, 5);
  const auto r = RunCli("train --device cpu --epochs 1 --save m.lrm --metrics m.jsonl", "cd " + cwd.path() + " && ");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.err.find("(no --data given)"), std::string::npos) << r.err;
  const auto settings = nlohmann::json::parse(load_model_file(cwd.file("m.lrm")).settings_json);
  EXPECT_EQ(settings["data"]["chosen_by_default"], true);
  EXPECT_EQ(settings["data"]["dir"], "data");
  const auto first = nlohmann::json::parse(FileLines(cwd.file("m.jsonl"))[0]);
  EXPECT_EQ(first["settings"]["data"]["chosen_by_default"], true);
}

}  // namespace
}  // namespace logreg
