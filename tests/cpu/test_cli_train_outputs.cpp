// `train` outputs as a user meets them: metrics files (CSV and JSON Lines) that hold every epoch, saved
// models that --resume continues exactly, the confusion matrix, and clear errors for bad output paths.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <array>
#include <filesystem>
#include <iterator>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "logreg/idx.hpp"
#include "logreg/metrics_log.hpp"
#include "logreg/model_file.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RunCli;

using test::FileLines;

class TrainOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 300, 60, 10, 28, 21);
  }
  std::string Train(const std::string& extra) const {
    return "train --device cpu --lr 0.05 --batch-size 16 --seed 4 --data " + dir_.path() + " " + extra;
  }
  test::TempDir dir_;
};

TEST_F(TrainOutputs, CsvMetricsHoldEveryEpochAndTheSettings) {
  const std::string csv = dir_.file("m.csv");
  const auto r = RunCli(Train("--epochs 3 --metrics " + csv));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = FileLines(csv);
  ASSERT_EQ(lines.size(), 4u);  // column header (the first line: pandas and csv.DictReader read it), 3 epochs
  std::ifstream settings_file(csv + ".json");
  ASSERT_TRUE(settings_file.good()) << "the settings go to m.csv.json beside the CSV";
  const auto settings = nlohmann::json::parse(settings_file);
  EXPECT_EQ(settings["seed"], 4);
  EXPECT_EQ(settings["batch_size"], 16);
  EXPECT_EQ(settings["data"]["files"].size(), 4u);
  EXPECT_GT(settings["data"]["files"][0]["bytes"].get<long long>(), 300 * 784);
  EXPECT_EQ(settings["data"]["chosen_by_default"], false);
  EXPECT_EQ(lines[0], "epoch,train_loss,last_batch_loss,test_loss,test_accuracy,epoch_seconds,samples_per_second,lr");
  for (int e = 1; e <= 3; ++e) {
    std::stringstream row(lines[static_cast<std::size_t>(e)]);
    std::string field;
    std::getline(row, field, ',');
    EXPECT_EQ(std::stoi(field), e);
    std::getline(row, field, ',');
    EXPECT_GT(std::stod(field), 0.0);
  }
}

TEST_F(TrainOutputs, JsonlMetricsParse) {
  const std::string jsonl = dir_.file("m.jsonl");
  const auto r = RunCli(Train("--epochs 2 --lr-schedule step --lr-step 1 --lr-gamma 0.5 --metrics " + jsonl));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = FileLines(jsonl);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["settings"]["lr_schedule"], "step");
  const auto e2 = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(e2["epoch"], 2);
  EXPECT_NEAR(e2["lr"].get<double>(), 0.025, 1e-9);
  EXPECT_GT(e2["test_accuracy"].get<double>(), 50.0);
}

// The value after `key` ("Val loss: ") in the stdout line of `epoch`.
double StdoutValue(const std::string& out, int epoch, const std::string& key) {
  const std::size_t line = out.find("Epoch: " + std::to_string(epoch) + ". ");
  if (line == std::string::npos) return NAN;
  const std::size_t at = out.find(key, line);
  if (at == std::string::npos || at > out.find('\n', line)) return NAN;
  return std::stod(out.substr(at + key.size()));
}

// Regression: with a validation split, val_loss and val_accuracy are in every record, with the values
// the epoch line prints.
TEST_F(TrainOutputs, MetricsHoldTheValidationLossAndAccuracy) {
  const std::string csv = dir_.file("m.csv");
  const std::string jsonl = dir_.file("m.jsonl");
  const auto r = RunCli(Train("--epochs 2 --val-split 0.2 --metrics " + csv));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = FileLines(csv);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], std::string(kMetricsColumns) + ",val_loss,val_accuracy");
  for (int e = 1; e <= 2; ++e) {
    std::stringstream row(lines[static_cast<std::size_t>(e)]);
    std::vector<std::string> fields;
    for (std::string f; std::getline(row, f, ',');) fields.push_back(f);
    ASSERT_EQ(fields.size(), 10u) << lines[static_cast<std::size_t>(e)];
    EXPECT_NEAR(std::stod(fields[8]), StdoutValue(r.out, e, "Val loss: "), 5e-5) << r.out;
    EXPECT_NEAR(std::stod(fields[9]), StdoutValue(r.out, e, "Val accuracy: "), 5e-3) << r.out;
  }
  const auto rj = RunCli(Train("--epochs 2 --val-split 0.2 --metrics " + jsonl));
  ASSERT_EQ(rj.exit_code, 0) << rj.output;
  const auto jl = FileLines(jsonl);
  ASSERT_EQ(jl.size(), 3u);
  for (int e = 1; e <= 2; ++e) {
    const auto rec = nlohmann::json::parse(jl[static_cast<std::size_t>(e)]);
    EXPECT_NEAR(rec["val_loss"].get<double>(), StdoutValue(rj.out, e, "Val loss: "), 5e-5);
    EXPECT_NEAR(rec["val_accuracy"].get<double>(), StdoutValue(rj.out, e, "Val accuracy: "), 5e-3);
  }
  // Without a split, no validation columns.
  ASSERT_EQ(RunCli(Train("--epochs 1 --metrics " + jsonl)).exit_code, 0);
  EXPECT_FALSE(nlohmann::json::parse(FileLines(jsonl)[1]).contains("val_loss"));
}

TEST_F(TrainOutputs, MetricsNeedCsvOrJsonlName) {
  const auto r = RunCli(Train("--epochs 1 --metrics " + dir_.file("m.txt")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--metrics"), std::string::npos) << r.output;
}

TEST_F(TrainOutputs, SaveIntoMissingDirectoryFailsBeforeTraining) {
  const auto r = RunCli(Train("--epochs 1 --save " + dir_.file("no/such/dir/model.bin")));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Epoch: 1."), std::string::npos) << r.output;
}

// /proc takes no new files, even from root (for whom a chmod'ed directory would still be writable).
TEST_F(TrainOutputs, SaveIntoUnwritableDirectoryFailsBeforeTraining) {
  for (const char* flag : {"--save /proc/model.lrm", "--metrics /proc/metrics.csv"}) {
    const auto r = RunCli(Train(std::string("--epochs 1 ") + flag));
    EXPECT_EQ(r.exit_code, 5) << flag << ": " << r.output;
    EXPECT_NE(r.err.find("cannot create files in /proc"), std::string::npos) << flag << ": " << r.err;
    EXPECT_EQ(r.output.find("Epoch: 1."), std::string::npos) << flag << ": " << r.output;
  }
}

// A full disk, simulated by a file size limit (writes then fail with EFBIG, as with ENOSPC; SIGXFSZ is
// ignored so the process sees the error instead of being killed). The limit is per file, so the
// captured stderr file must stay under it too.
std::string FileSizeLimit(std::uintmax_t bytes) {
  return "trap '' XFSZ; prlimit --fsize=" + std::to_string(bytes) + " ";
}

std::uintmax_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(TrainOutputs, MetricsOnAFullDiskKeepOnlyCompleteRecords) {
  const std::string csv = dir_.file("m.csv");
  ASSERT_EQ(RunCli(Train("--epochs 10 --metrics " + csv)).exit_code, 0);
  const std::uintmax_t header = FileLines(csv)[0].size() + 1;
  const std::uintmax_t record = FileLines(csv)[1].size() + 1;
  // Room for the settings file beside it (m.csv.json, the largest of the two), then the CSV fills up: a few
  // records fit, the next one only in part.
  const std::uintmax_t limit = FileSize(csv + ".json") + 40;
  ASSERT_GE((limit - header) / record, 2u);
  const auto r = RunCli(Train("--epochs 60 --metrics " + csv), FileSizeLimit(limit));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("--metrics " + csv + ": write failed: File too large"), std::string::npos) << r.err;
  // How many records fit depends on this run's own record widths (the epoch's digits, the timing columns), so
  // the count is read from the file and checked against the message and the limit: the kept records fit,
  // the next one (at most 2 bytes longer than the last kept: one more epoch digit, one more throughput digit)
  // did not.
  const auto lines = FileLines(csv);
  ASSERT_GE(lines.size(), 2u);
  const std::size_t complete = lines.size() - 1;
  EXPECT_NE(r.err.find("keeps its header and " + std::to_string(complete) + " complete epoch record"), std::string::npos)
      << r.err;
  EXPECT_LE(FileSize(csv), limit);
  EXPECT_GT(FileSize(csv) + (lines.back().size() + 1) + 2, limit) << complete << " records kept under " << limit;
  EXPECT_EQ(lines[0], kMetricsColumns);
  for (std::size_t e = 1; e <= complete; ++e) {
    EXPECT_EQ(lines[e].rfind(std::to_string(e) + ",", 0), 0u) << lines[e];
    EXPECT_EQ(std::count(lines[e].begin(), lines[e].end(), ','), 7) << lines[e];
  }
  std::ifstream f(csv, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.back(), '\n');
  for (const auto& name : FilesIn(dir_.path())) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

TEST_F(TrainOutputs, MetricsHeaderThatDoesNotFitLeavesNoFile) {
  const std::string jsonl = dir_.file("m.jsonl");
  // 256 bytes: less than the settings header (about 1 KB), enough for the error message on stderr
  // (which the test captures in a file, under the same limit).
  const auto r = RunCli(Train("--epochs 1 --metrics " + jsonl), FileSizeLimit(256));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("no metrics file is left"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(jsonl));
}

// A metrics file that can no longer be written (a full disk: here a file size limit that the model fits under
// but the growing JSON Lines file soon does not) stops training with exit 5, and --save still gets the model of
// the last epoch (or L-BFGS iteration): the save directory has room, so the work is not lost.
class LostWork : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 200, 40, 4, 8, 61);
  }
  std::string Train(const std::string& extra) const {
    return "train --device cpu --data " + dir_.path() + " " + extra;
  }
  // The size of the model a run of `args` saves (a first run without a limit), plus room for the settings
  // record's longer numbers.
  std::uintmax_t ModelBytes(const std::string& args) const {
    const std::string probe = dir_.file("probe.lrm");
    EXPECT_EQ(RunCli(Train(args + " --save " + probe)).exit_code, 0);
    const std::uintmax_t bytes = FileSize(probe);
    std::filesystem::remove(probe);
    return bytes + 256;
  }
  test::TempDir dir_;
};

TEST_F(LostWork, AFailingMetricsFileStillSavesTheSgdModel) {
  const std::string model = dir_.file("m.lrm"), jsonl = dir_.file("m.jsonl");
  const std::uintmax_t limit = ModelBytes("--epochs 1");
  const auto r = RunCli(Train("--epochs 100000 --metrics " + jsonl + " --save " + model), FileSizeLimit(limit));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("--metrics " + jsonl + ": write failed: File too large"), std::string::npos) << r.err;
  const std::size_t records = FileLines(jsonl).size() - 1;  // after the settings record
  ASSERT_GE(records, 1u);
  const std::string epoch = std::to_string(records + 1);  // its record is the one that did not fit
  EXPECT_NE(r.err.find("training stopped after epoch " + epoch + "; model saved to " + model + " (the weights of epoch " +
                       epoch + ", whose metrics record is missing)"),
            std::string::npos)
      << r.err;
  const ModelFile saved = load_model_file(model);
  EXPECT_EQ(saved.epochs_done, records + 1);
  for (const auto& name : FilesIn(dir_.path())) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
  // It continues as any saved run does.
  const auto resumed = RunCli(Train("--resume " + model + " --epochs " + std::to_string(records + 2)));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
}

TEST_F(LostWork, WithoutSaveTheMessageSaysNoModelIsKept) {
  const std::string jsonl = dir_.file("m.jsonl");
  const auto r = RunCli(Train("--epochs 100000 --metrics " + jsonl), FileSizeLimit(ModelBytes("--epochs 1")));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("(no --save was given, so no model is kept)"), std::string::npos) << r.err;
}

TEST_F(LostWork, AFailingMetricsFileStillSavesTheLbfgsModel) {
  const std::string model = dir_.file("m.lrm"), jsonl = dir_.file("m.jsonl");
  const std::string fit = "--solver lbfgs --C inf --tol 1e-300 --eval-every 0";
  const std::uintmax_t limit = ModelBytes(fit + " --max-iter 2");
  const auto r = RunCli(Train(fit + " --max-iter 100000 --metrics " + jsonl + " --save " + model), FileSizeLimit(limit));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("--metrics " + jsonl + ": write failed: File too large"), std::string::npos) << r.err;
  const std::size_t records = FileLines(jsonl).size() - 1;
  const std::string iteration = std::to_string(records + 1);
  EXPECT_NE(r.err.find("the fit stopped after L-BFGS iteration " + iteration + "; model saved to " + model),
            std::string::npos)
      << r.err;
  const ModelFile saved = load_model_file(model);
  const nlohmann::json s = nlohmann::json::parse(saved.settings_json);
  EXPECT_EQ(s["lbfgs_result"]["iterations"], records + 1) << s.dump();
}

TEST_F(TrainOutputs, SaveOnAFullDiskKeepsThePreviousModel) {
  const std::string model = dir_.file("model.lrm");
  ASSERT_EQ(RunCli(Train("--epochs 1 --save " + model)).exit_code, 0);
  std::ifstream before_file(model, std::ios::binary);
  const std::string before((std::istreambuf_iterator<char>(before_file)), std::istreambuf_iterator<char>());
  const auto files_before = FilesIn(dir_.path());

  const auto r = RunCli(Train("--epochs 2 --save " + model), FileSizeLimit(before.size() / 2));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.err.find("cannot write " + model), std::string::npos) << r.err;
  EXPECT_NE(r.output.find("Epoch: 2."), std::string::npos) << r.output;  // it trained, then could not save
  std::ifstream after_file(model, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(after_file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, before);
  EXPECT_EQ(FilesIn(dir_.path()), files_before);  // no temporary left behind
}

TEST_F(TrainOutputs, DivergenceExitsWith4AndKeepsTheSavedModel) {
  const std::string model = dir_.file("model.lrm");
  ASSERT_EQ(RunCli(Train("--epochs 1 --save " + model)).exit_code, 0);
  std::ifstream before_file(model, std::ios::binary);
  const std::string before((std::istreambuf_iterator<char>(before_file)), std::istreambuf_iterator<char>());

  const std::string csv = dir_.file("m.csv");
  const auto r = RunCli("train --device cpu --lr 1e6 --batch-size 16 --seed 4 --data " + dir_.path() +
                        " --epochs 3 --save " + model + " --metrics " + csv);
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.err.find("training diverged in epoch 1 by step"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("try a smaller --lr"), std::string::npos) << r.err;
  std::ifstream after_file(model, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(after_file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, before);
  EXPECT_EQ(FileLines(csv).size(), 1u);  // the header only: no epoch completed
}

// --resume after 2 epochs equals 4 epochs straight through (identical weights on the CPU backend),
// with momentum so the saved velocity matters too.
TEST_F(TrainOutputs, ResumeEqualsStraightRun) {
  const std::string opt = "--momentum 0.9 --weight-decay 0.001 --lr-schedule step --lr-step 3 --lr-gamma 0.5 ";
  const std::string a = dir_.file("a.model"), b = dir_.file("b.model"), c = dir_.file("c.model");
  ASSERT_EQ(RunCli(Train(opt + "--epochs 4 --save " + a)).exit_code, 0);
  const auto half = RunCli(Train(opt + "--epochs 2 --save " + b));
  ASSERT_EQ(half.exit_code, 0) << half.output;
  const auto resumed = RunCli(Train(opt + "--epochs 4 --resume " + b + " --save " + c));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("Epoch: 3."), std::string::npos) << resumed.output;
  EXPECT_EQ(resumed.output.find("Epoch: 1."), std::string::npos) << resumed.output;
  const ModelFile straight = load_model_file(a);
  const ModelFile continued = load_model_file(c);
  EXPECT_EQ(straight.epochs_done, 4u);
  EXPECT_EQ(continued.epochs_done, 4u);
  EXPECT_EQ(straight.model.weights, continued.model.weights);
  EXPECT_EQ(straight.model.bias, continued.model.bias);
  EXPECT_EQ(straight.optimizer_state, continued.optimizer_state);
  EXPECT_EQ(straight.optimizer_state.size(), 7850u);
}

TEST_F(TrainOutputs, SaveEveryWritesIntermediateModels) {
  const std::string m = dir_.file("every.model");
  const auto r = RunCli(Train("--epochs 3 --save-every 2 --save " + m + " --metrics " + dir_.file("e.csv")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(load_model_file(m).epochs_done, 3u);
  EXPECT_NE(r.output.find("Saved model to"), std::string::npos);
}

TEST_F(TrainOutputs, PrintsSettingsAndConfusionMatrix) {
  const auto r = RunCli(Train("--epochs 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("seed 4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train-images-idx3-ubyte ("), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("confusion matrix"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("true 9"), std::string::npos) << r.output;
}

TEST_F(TrainOutputs, BadOptimizerValuesAreUsageErrors) {
  EXPECT_EQ(RunCli(Train("--momentum 1.5")).exit_code, 2);
  EXPECT_EQ(RunCli(Train("--nesterov")).exit_code, 2);
  EXPECT_EQ(RunCli(Train("--early-stop 3")).exit_code, 2);
  EXPECT_EQ(RunCli(Train("--val-split 1.0")).exit_code, 2);
  EXPECT_EQ(RunCli(Train("--lr-schedule linear")).exit_code, 2);
}

}  // namespace
}  // namespace logreg
