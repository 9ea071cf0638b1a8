// `logreg_cuda eval` and `predict` as a user meets them: a small saved model and generated IDX files,
// eval's text and JSON, predict's CSV/JSONL agreeing with eval, and the exit codes of bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RunCli;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string f; std::getline(in, f, ',');) fields.push_back(f);
  return fields;
}

// A data set of 8x8 images with 4 classes and a partly trained 8x8 model saved next to it.
class CliEvalPredict : public ::testing::Test {
 protected:
  void SetUp() override {
    ImageSet train;
    LabelSet train_labels;
    test::SeparableSet(40, 4, 8, 3, &train, &train_labels);
    test::SeparableSet(60, 4, 8, 4, &test_images_, &test_labels_);
    write_idx_images(dir_.file("train-images-idx3-ubyte"), train);
    write_idx_labels(dir_.file("train-labels-idx1-ubyte"), train_labels);
    write_idx_images(dir_.file("t10k-images-idx3-ubyte.gz"), test_images_, true);
    write_idx_labels(dir_.file("t10k-labels-idx1-ubyte"), test_labels_);

    ModelFile f;
    f.rows = 8;
    f.cols = 8;
    f.model = init_model(64, 4, LossHead::kSoftmax, 9);
    for (int c = 0; c < 4; ++c) {  // some signal, so accuracy is neither chance nor perfect
      for (int d = c * 16; d < (c + 1) * 16; ++d) f.model.weights[static_cast<std::size_t>(c) * 64 + d] += 0.01f;
    }
    f.epochs_done = 3;
    f.settings_json = R"({"epochs":3})";
    model_ = f.model;
    save_model_file(dir_.file("model.lrm"), f);
  }

  std::string ModelArgs() const { return "--model " + dir_.file("model.lrm"); }
  std::string Images() const { return dir_.file("t10k-images-idx3-ubyte.gz"); }

  test::TempDir dir_;
  ImageSet test_images_;
  LabelSet test_labels_;
  Model model_;
};

TEST_F(CliEvalPredict, EvalPrintsLossAccuracyAndConfusionMatrix) {
  const auto r = RunCli("eval " + ModelArgs() + " --data " + dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Test loss: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Accuracy: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("true 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("precision"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 epochs trained"), std::string::npos) << r.out;
}

TEST_F(CliEvalPredict, PredictArgmaxAgreesWithEvalAccuracy) {
  const auto eval = RunCli("eval --json " + ModelArgs() + " --data " + dir_.path());
  ASSERT_EQ(eval.exit_code, 0) << eval.out << eval.err;
  const nlohmann::json j = nlohmann::json::parse(eval.out);
  EXPECT_EQ(j["count"], 60);
  EXPECT_EQ(j["model"], dir_.file("model.lrm"));
  EXPECT_EQ(j["confusion"].size(), 4u);
  const std::int64_t correct = j["correct"].get<std::int64_t>();
  EXPECT_GT(correct, 0);
  EXPECT_LT(correct, 60);

  const auto pred = RunCli("predict --all " + ModelArgs() + " --images " + Images());
  ASSERT_EQ(pred.exit_code, 0) << pred.err;
  const std::vector<std::string> lines = Lines(pred.out);
  ASSERT_EQ(lines.size(), 61u);
  EXPECT_EQ(lines[0], "index,predicted,p0,p1,p2,p3");
  std::int64_t agree = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> f = Fields(lines[i]);
    ASSERT_EQ(f.size(), 6u) << lines[i];
    EXPECT_EQ(std::stoul(f[0]), i - 1);
    double sum = 0.0;
    for (int c = 0; c < 4; ++c) sum += std::stod(f[2 + static_cast<std::size_t>(c)]);
    EXPECT_NEAR(sum, 1.0, 1e-5) << lines[i];
    if (std::stoi(f[1]) == test_labels_.labels[i - 1]) ++agree;
  }
  EXPECT_EQ(agree, correct);
}

TEST_F(CliEvalPredict, PredictJsonlTopKAndIndex) {
  const auto r = RunCli("predict --index 5 --top-k 2 --format jsonl " + ModelArgs() + " --images " + Images());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["index"], 5);
  ASSERT_EQ(j["top_k"].size(), 2u);
  EXPECT_EQ(j["top_k"][0]["class"], j["predicted"]);
  EXPECT_GE(j["top_k"][0]["p"].get<double>(), j["top_k"][1]["p"].get<double>());

  const auto all = RunCli("predict --all --format jsonl " + ModelArgs() + " --images " + Images());
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const nlohmann::json row5 = nlohmann::json::parse(Lines(all.out)[5]);
  EXPECT_EQ(row5["index"], 5);
  EXPECT_EQ(row5["predicted"], j["predicted"]);
  EXPECT_EQ(row5["probabilities"].size(), 4u);

  const auto csv = RunCli("predict --index 0 --top-k 3 " + ModelArgs() + " --images " + Images());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(Lines(csv.out)[0], "index,predicted,top1_class,top1_prob,top2_class,top2_prob,top3_class,top3_prob");
}

TEST_F(CliEvalPredict, PredictOutWritesTheFileAtomically) {
  const std::string out = dir_.file("pred.csv");
  const auto r = RunCli("predict --all --out " + out + " " + ModelArgs() + " --images " + Images());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  std::ifstream f(out);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(Lines(text).size(), 61u);
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }

  const std::string missing = dir_.file("no/such/dir/pred.csv");
  const auto bad = RunCli("predict --all --out " + missing + " " + ModelArgs() + " --images " + Images());
  EXPECT_EQ(bad.exit_code, 5) << bad.err;
  EXPECT_NE(bad.err.find(missing), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("no")));
}

TEST_F(CliEvalPredict, ShapeMismatchIsBadDataNamingBothShapes) {
  ModelFile small;
  small.rows = 4;
  small.cols = 4;
  small.model = init_model(16, 4, LossHead::kSoftmax, 1);
  save_model_file(dir_.file("small.lrm"), small);
  const std::string model = " --model " + dir_.file("small.lrm");

  const auto eval = RunCli("eval" + model + " --data " + dir_.path());
  EXPECT_EQ(eval.exit_code, 3) << eval.err;
  EXPECT_NE(eval.err.find("8x8"), std::string::npos) << eval.err;
  EXPECT_NE(eval.err.find("4x4"), std::string::npos) << eval.err;
  EXPECT_NE(eval.err.find("small.lrm"), std::string::npos) << eval.err;

  const auto pred = RunCli("predict --index 0" + model + " --images " + Images());
  EXPECT_EQ(pred.exit_code, 3) << pred.err;
  EXPECT_NE(pred.err.find("8x8"), std::string::npos) << pred.err;
  EXPECT_NE(pred.err.find("4x4"), std::string::npos) << pred.err;
  EXPECT_NE(pred.err.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << pred.err;
}

// A 3 GB model file (sparse: its blocks are holes) is refused from its first bytes, before it is read whole:
// under an address-space limit of 1 GB, reading it would fail as out of memory instead. Wrong magic, and a
// well-formed header whose shape cannot fill 3 GB.
TEST_F(CliEvalPredict, AHugeModelFileIsRefusedFromItsHeaderWithoutReadingIt) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer cannot run under prlimit --as";
#endif
  const std::uintmax_t huge = 3000000000ull;
  const std::string zeros = dir_.file("zeros.lrm");
  { std::ofstream f(zeros, std::ios::binary); }
  std::filesystem::resize_file(zeros, huge);
  auto r = RunCli("eval --model " + zeros + " --data " + dir_.path(), "prlimit --as=1000000000 ");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("not a logreg_cuda model file"), std::string::npos) << r.err;

  const std::string padded = dir_.file("padded.lrm");
  std::filesystem::copy_file(dir_.file("model.lrm"), padded);
  std::filesystem::resize_file(padded, huge);
  r = RunCli("eval --model " + padded + " --data " + dir_.path(), "prlimit --as=1000000000 ");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("the header describes at most"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("but the file has 3000000000: not a model file of this shape"), std::string::npos) << r.err;
}

TEST_F(CliEvalPredict, CorruptModelIsBadData) {
  {
    std::fstream f(dir_.file("model.lrm"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    const char old = static_cast<char>(f.get());
    f.seekp(100);
    f.put(static_cast<char>(old ^ 0x20));
  }
  const auto r = RunCli("eval " + ModelArgs() + " --data " + dir_.path());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
}

TEST_F(CliEvalPredict, UsageErrors) {
  const std::string base = " " + ModelArgs() + " --images " + Images();
  const auto both = RunCli("predict --index 1 --all" + base);
  EXPECT_EQ(both.exit_code, 2) << both.err;
  EXPECT_NE(both.err.find("--all"), std::string::npos) << both.err;

  const auto neither = RunCli("predict" + base);
  EXPECT_EQ(neither.exit_code, 2) << neither.err;
  EXPECT_NE(neither.err.find("--index"), std::string::npos) << neither.err;

  const auto range = RunCli("predict --index 60" + base);
  EXPECT_EQ(range.exit_code, 2) << range.err;
  EXPECT_NE(range.err.find("--index 60"), std::string::npos) << range.err;
  EXPECT_NE(range.err.find("0 to 59"), std::string::npos) << range.err;

  for (const char* k : {"0", "5"}) {
    const auto topk = RunCli(std::string("predict --all --top-k ") + k + base);
    EXPECT_EQ(topk.exit_code, 2) << topk.err;
    EXPECT_NE(topk.err.find("--top-k"), std::string::npos) << topk.err;
  }

  const auto format = RunCli("predict --all --format xml" + base);
  EXPECT_EQ(format.exit_code, 2) << format.err;

  const auto no_model = RunCli("eval --data " + dir_.path());
  EXPECT_EQ(no_model.exit_code, 2) << no_model.err;
  EXPECT_NE(no_model.err.find("--model"), std::string::npos) << no_model.err;
}

TEST_F(CliEvalPredict, MissingModelFileIsBadData) {
  const auto r = RunCli("eval --model " + dir_.file("absent.lrm") + " --data " + dir_.path());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("absent.lrm"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace logreg
