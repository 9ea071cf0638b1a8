// `logreg_cuda export`, `eval --model F.safetensors` and `train --init F.safetensors` as a user meets them,
// on a generated 8x8 data set: the files each format writes, the exit codes and messages of bad input
// (README "Exit codes"), and safetensors models evaluated and trained from like our own.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "logreg/export_safetensors.hpp"
#include "logreg/idx.hpp"
#include "logreg/model_file.hpp"
#include "cli_runner.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RunCli;

using test::ReadAll;

// 8x8 images of 4 classes and a model with some signal saved next to them.
class CliExport : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 40, 60, 4, 8, 3);
    ModelFile f;
    f.rows = 8;
    f.cols = 8;
    f.model = init_model(64, 4, LossHead::kOvr, 9);
    for (int c = 0; c < 4; ++c) {
      for (int d = c * 16; d < (c + 1) * 16; ++d) f.model.weights[static_cast<std::size_t>(c) * 64 + d] += 0.02f;
    }
    f.epochs_done = 3;
    f.seed = 9;
    f.settings_json = R"({"epochs":3,"lr":0.5})";
    save_model_file(ModelPath(), f);
  }
  std::string ModelPath() const { return dir_.file("model.lrm"); }
  std::string Data() const { return " --data " + dir_.path(); }

  test::TempDir dir_;
};

TEST_F(CliExport, WritesEachFormatAndSafetensorsRoundTrips) {
  for (const char* format : {"onnx", "safetensors"}) {
    const std::string out = dir_.file(std::string("m.") + format);
    const auto r = RunCli("export --model " + ModelPath() + " --format " + format + " --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.out.find(std::string("as ") + format), std::string::npos) << r.out;
    EXPECT_GT(std::filesystem::file_size(out), 64u * 4 * 4) << format;  // at least the weights
  }
  // npz is scikit-learn's LogisticRegression, softmax only: another head is refused and nothing is written.
  for (const LossHead head : {LossHead::kOvr, LossHead::kSigmoidSoftmax, LossHead::kSoftmax}) {
    ModelFile m = load_model_file(ModelPath());
    m.model.head = head;
    const std::string model = dir_.file(std::string(loss_head_name(head)) + ".lrm");
    const std::string out = dir_.file(std::string(loss_head_name(head)) + ".npz");
    save_model_file(model, m);
    const auto r = RunCli("export --model " + model + " --format npz --out " + out);
    if (head == LossHead::kSoftmax) {
      ASSERT_EQ(r.exit_code, 0) << r.output;
      EXPECT_EQ(ReadAll(out).substr(0, 4), std::string("PK\x03\x04"));
    } else {
      EXPECT_EQ(r.exit_code, 2) << r.output;
      EXPECT_NE(r.err.find(std::string("the model's loss head is ") + loss_head_name(head)), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("onnx"), std::string::npos) << r.err;
      EXPECT_FALSE(std::filesystem::exists(out)) << loss_head_name(head);
    }
  }
  const ModelFile original = load_model_file(ModelPath());
  const ModelFile back = load_safetensors_model(dir_.file("m.safetensors"));
  EXPECT_EQ(back.model.weights, original.model.weights);
  EXPECT_EQ(back.model.bias, original.model.bias);
  EXPECT_EQ(back.model.head, LossHead::kOvr);
  EXPECT_EQ(back.settings_json, original.settings_json);

  // --format from the extension; a safetensors model exports again, byte for byte the same.
  const auto again = RunCli("export --model " + dir_.file("m.safetensors") + " --out " + dir_.file("again.safetensors"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(ReadAll(dir_.file("again.safetensors")), ReadAll(dir_.file("m.safetensors")));
}

TEST_F(CliExport, EvalOfTheSafetensorsExportMatchesTheModelFile) {
  ASSERT_EQ(RunCli("export --model " + ModelPath() + " --format safetensors --out " + dir_.file("m.safetensors")).exit_code, 0);
  const auto lrm = RunCli("eval --json --model " + ModelPath() + Data());
  const auto st = RunCli("eval --json --model " + dir_.file("m.safetensors") + Data());
  ASSERT_EQ(lrm.exit_code, 0) << lrm.output;
  ASSERT_EQ(st.exit_code, 0) << st.output;
  nlohmann::json a = nlohmann::json::parse(lrm.out), b = nlohmann::json::parse(st.out);
  EXPECT_EQ(b["loss_head"], "ovr");
  a.erase("model");
  b.erase("model");
  EXPECT_EQ(a, b);  // same loss, accuracy, confusion matrix
}

TEST_F(CliExport, TrainInitStartsFromTheSafetensorsWeights) {
  ASSERT_EQ(RunCli("export --model " + ModelPath() + " --out " + dir_.file("m.safetensors")).exit_code, 0);
  // One step with a tiny learning rate: the result is the initial model, nearly exactly.
  const std::string saved = dir_.file("trained.lrm");
  const auto r = RunCli("train --device reference --epochs 1 --batch-size 40 --lr 1e-9 --loss ovr --init " +
                        dir_.file("m.safetensors") + " --save " + saved + Data());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.out.find("Initial weights from " + dir_.file("m.safetensors")), std::string::npos) << r.out;
  const ModelFile trained = load_model_file(saved);
  const ModelFile start = load_model_file(ModelPath());
  EXPECT_TRUE(test::AllClose(start.model.weights, trained.model.weights, 1e-7, 0.0));
  EXPECT_NE(nlohmann::json::parse(trained.settings_json)["init"], "");

  const auto both = RunCli("train --epochs 1 --init " + dir_.file("m.safetensors") + " --resume " + ModelPath() + Data());
  EXPECT_EQ(both.exit_code, 2) << both.output;
  EXPECT_NE(both.err.find("--resume excludes --init"), std::string::npos) << both.err;
}

TEST_F(CliExport, TrainInitRejectsAModelOfAnotherShape) {
  ModelFile other;
  other.rows = 4;
  other.cols = 4;
  other.model = init_model(16, 4, LossHead::kSoftmax, 1);
  save_model_file(dir_.file("small.lrm"), other);
  ASSERT_EQ(RunCli("export --model " + dir_.file("small.lrm") + " --out " + dir_.file("small.safetensors")).exit_code, 0);
  const auto r = RunCli("train --epochs 1 --init " + dir_.file("small.safetensors") + Data());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("small.safetensors: --init: the model is Linear(16 -> 4), the data needs Linear(64 -> 4)"),
            std::string::npos)
      << r.err;
}

TEST_F(CliExport, BadInputGetsAClearMessageAndExitCode) {
  const std::string out = dir_.file("m.onnx");
  auto expect = [&](const std::string& args, int code, const std::string& words) {
    const auto r = RunCli(args);
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.output;
    EXPECT_NE(r.err.find(words), std::string::npos) << args << "\n" << r.err;
  };
  expect("export --model " + ModelPath() + " --format tflite --out " + out, 2, "--format: unknown format 'tflite' (expected onnx, safetensors or npz)");
  expect("export --model " + ModelPath() + " --out " + dir_.file("m.bin"), 2, "--out " + dir_.file("m.bin") + " does not end in");
  expect("export --format onnx --out " + out, 2, "--model is required");
  expect("export --model " + dir_.file("nope.lrm") + " --format onnx --out " + out, 3, dir_.file("nope.lrm") + ": cannot open");
  expect("export --model " + dir_.file("t10k-labels-idx1-ubyte") + " --format onnx --out " + out, 3, "not a logreg_cuda model file");
  expect("export --model " + ModelPath() + " --format onnx --out " + dir_.file("no/such/dir/m.onnx"), 5,
         "--out " + dir_.file("no/such/dir/m.onnx") + ": the directory " + dir_.file("no/such/dir") + " does not exist");
  expect("export --model " + ModelPath() + " --format npz --out " + dir_.path(), 5, "--out " + dir_.path() + ": is a directory");
  EXPECT_FALSE(std::filesystem::exists(out));  // nothing half-written

  // A read-only directory (root ignores permission bits, so /proc stands in for it).
  expect("export --model " + ModelPath() + " --format onnx --out /proc/m.onnx", 5, "--out /proc/m.onnx: cannot write /proc/m.onnx");
  expect("eval --model " + dir_.file("nope.safetensors") + Data(), 3, dir_.file("nope.safetensors") + ": cannot open");
}

}  // namespace
}  // namespace logreg
