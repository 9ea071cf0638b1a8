// `train` outputs as a user meets them: metrics files (CSV and JSON Lines) that hold every epoch, saved
// models that --resume continues exactly, the confusion matrix, and clear errors for bad output paths.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RunCli;

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  return lines;
}

class TrainOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    ImageSet train, test;
    LabelSet train_labels, test_labels;
    test::SeparableSet(300, 10, 28, 21, &train, &train_labels);
    test::SeparableSet(60, 10, 28, 22, &test, &test_labels);
    test::WriteDataDir(dir_, train, train_labels, test, test_labels);
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
  const auto lines = Lines(csv);
  ASSERT_EQ(lines.size(), 5u);  // settings comment, column header, 3 epochs
  EXPECT_EQ(lines[0].rfind("# logreg_cuda settings: {", 0), 0u) << lines[0];
  const auto settings = nlohmann::json::parse(lines[0].substr(std::string("# logreg_cuda settings: ").size()));
  EXPECT_EQ(settings["seed"], 4);
  EXPECT_EQ(settings["batch_size"], 16);
  EXPECT_EQ(settings["data"]["files"].size(), 4u);
  EXPECT_GT(settings["data"]["files"][0]["bytes"].get<long long>(), 300 * 784);
  EXPECT_EQ(lines[1], "epoch,train_loss,last_batch_loss,test_loss,test_accuracy,epoch_seconds,samples_per_second,lr");
  for (int e = 1; e <= 3; ++e) {
    std::stringstream row(lines[static_cast<std::size_t>(e) + 1]);
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
  const auto lines = Lines(jsonl);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["settings"]["lr_schedule"], "step");
  const auto e2 = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(e2["epoch"], 2);
  EXPECT_NEAR(e2["lr"].get<double>(), 0.025, 1e-9);
  EXPECT_GT(e2["test_accuracy"].get<double>(), 50.0);
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
