// MetricsLog's records (logreg/metrics_log.hpp): every CSV column and every JSON Lines key holds the value
// it names, checked with a report whose every field is different, with and without a validation split.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/metrics_log.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using test::FileLines;

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream s(line);
  for (std::string f; std::getline(s, f, ',');) fields.push_back(f);
  return fields;
}

// Every field distinct, so that any two columns swapped show.
EpochReport DistinctReport() {
  EpochReport r;
  r.epoch = 7;
  r.lr = 0.0123f;
  r.train.loss_sum = 3.0;  // mean 1.5
  r.train.count = 2;
  r.train.last_batch_loss = 0.25;
  r.test.loss_sum = 9.0;  // mean 2.25
  r.test.correct = 3;     // 75 %
  r.test.count = 4;
  r.val.loss_sum = 5.0;   // mean 0.625
  r.val.correct = 2;      // 25 %
  r.val.count = 8;
  r.has_val = true;
  r.seconds = 12.5;
  r.train_seconds = 10.0;
  r.samples_per_second = 4321.5;
  return r;
}

const std::map<std::string, double> kExpected = {
    {"epoch", 7},          {"train_loss", 1.5},          {"last_batch_loss", 0.25},   {"test_loss", 2.25},
    {"test_accuracy", 75}, {"epoch_seconds", 12.5},      {"samples_per_second", 4321.5}, {"lr", 0.0123},
    {"val_loss", 0.625},   {"val_accuracy", 25}};

TEST(MetricsLog, EveryCsvColumnHoldsItsValue) {
  for (bool validation : {false, true}) {
    SCOPED_TRACE(validation ? "with validation" : "without validation");
    test::TempDir dir;
    {
      MetricsLog log(dir.file("m.csv"), "{}", validation);
      log.append(DistinctReport(), 0.0123);
    }
    const auto lines = FileLines(dir.file("m.csv"));
    ASSERT_EQ(lines.size(), 2u);  // the header is the first line; the settings are in m.csv.json
    const auto names = Split(lines[0]);
    const auto values = Split(lines[1]);
    ASSERT_EQ(names.size(), validation ? 10u : 8u) << lines[1];
    ASSERT_EQ(values.size(), names.size()) << lines[2];
    for (std::size_t i = 0; i < names.size(); ++i) {
      ASSERT_EQ(kExpected.count(names[i]), 1u) << names[i];
      EXPECT_NEAR(std::stod(values[i]), kExpected.at(names[i]), 1e-6 * (1 + kExpected.at(names[i]))) << names[i];
    }
  }
}

TEST(MetricsLog, EveryJsonlKeyHoldsItsValue) {
  for (bool validation : {false, true}) {
    SCOPED_TRACE(validation ? "with validation" : "without validation");
    test::TempDir dir;
    {
      MetricsLog log(dir.file("m.jsonl"), "{\"seed\": 4}", validation);
      log.append(DistinctReport(), 0.0123);
    }
    const auto lines = FileLines(dir.file("m.jsonl"));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(nlohmann::json::parse(lines[0])["settings"]["seed"], 4);
    const auto rec = nlohmann::json::parse(lines[1]);
    EXPECT_EQ(rec.size(), validation ? 10u : 8u) << lines[1];
    for (const auto& [key, value] : rec.items()) {
      ASSERT_EQ(kExpected.count(key), 1u) << key;
      EXPECT_NEAR(value.get<double>(), kExpected.at(key), 1e-9 * (1 + kExpected.at(key))) << key;
    }
  }
}

}  // namespace
}  // namespace logreg
