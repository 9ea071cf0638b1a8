// The class checks run on the rows actually fitted, not only on the whole file: --limit-train and
// --val-split that leave one class, or no row of some class, are bad data (exit 3) naming the labels file,
// the options and the missing classes, for both solvers; never a "Converged: yes" fit of one class.
#include <gtest/gtest.h>

#include <string>

#include "cli_runner.hpp"
#include "logreg/idx.hpp"
#include "logreg/training.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::RunCli;

// 200 rows of 4 classes whose first labels are 2, 2, 0, 1, then 3: the first 2 rows are one class, the first
// 4 lack class 3, the first 5 have all four.
class FittedClasses : public ::testing::Test {
 protected:
  void SetUp() override {
    test::WriteSeparableDataDir(dir_, 200, 40, 4, 8, 41, false, [](ImageSet&, LabelSet& train_labels) {
      const std::uint8_t first[] = {2, 2, 0, 1, 3};
      for (std::size_t i = 0; i < 5; ++i) train_labels.labels[i] = first[i];
    });
  }
  std::string Train(const std::string& args) const { return "train --device cpu --data " + dir_.path() + " " + args; }
  test::TempDir dir_;
};

TEST_F(FittedClasses, OneClassAmongTheFittedRowsIsBadDataForBothSolvers) {
  for (const std::string solver : {"--epochs 1", "--solver lbfgs"}) {
    for (const std::string limit : {"1", "2"}) {
      SCOPED_TRACE(solver + " --limit-train " + limit);
      const auto r = RunCli(Train(solver + " --limit-train " + limit));
      EXPECT_EQ(r.exit_code, 3) << r.output;
      EXPECT_NE(r.err.find(dir_.file("train-labels-idx1-ubyte") + ": the " + limit + " training rows fitted (--limit-train " +
                           limit + ") are all of class 2: a classifier needs rows of at least 2 classes"),
                std::string::npos)
          << r.err;
      EXPECT_EQ(r.out.find("Converged"), std::string::npos) << r.out;
      EXPECT_EQ(r.out.find("Epoch: 1."), std::string::npos) << r.out;
    }
  }
}

TEST_F(FittedClasses, AClassWithoutFittedRowsIsBadData) {
  const auto r = RunCli(Train("--epochs 1 --limit-train 4"));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.err.find("the 4 training rows fitted (--limit-train 4) have no row of class 3 (1 of the data's 4 classes)"),
            std::string::npos)
      << r.err;
  const auto ok = RunCli(Train("--epochs 1 --limit-train 5"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

// The held-out rows count too: of 5 rows with one of class 3, holding out 2 leaves class 3 out for some seed.
TEST_F(FittedClasses, HeldOutRowsAreNotFitted) {
  bool seen = false;
  for (int seed = 0; seed < 20 && !seen; ++seed) {
    const auto r = RunCli(Train("--epochs 1 --limit-train 5 --val-split 0.4 --seed " + std::to_string(seed)));
    if (r.exit_code == 0) continue;
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.err.find("the 3 training rows fitted (--limit-train 5, less 2 rows held out by --val-split 0.4)"),
              std::string::npos)
        << r.err;
    seen = true;
  }
  EXPECT_TRUE(seen) << "no seed held out a whole class";
}

}  // namespace
}  // namespace logreg
