// MetricsLog: CSV or JSON Lines per-epoch records, each line flushed (and fsync'd) as it is written
// so a crash keeps the epochs already done.
#include "logreg/metrics_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "logreg/errors.hpp"

namespace logreg {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, const std::string& settings_json) : path_(path) {
  if (ends_with(path, ".csv")) {
    format_ = MetricsFormat::kCsv;
  } else if (ends_with(path, ".jsonl")) {
    format_ = MetricsFormat::kJsonl;
  } else {
    throw UsageError("--metrics " + path + ": the file name must end in .csv or .jsonl");
  }
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) {
    throw ResourceError("--metrics " + path + ": cannot create the file: " + std::strerror(errno));
  }
  if (format_ == MetricsFormat::kCsv) {
    write("# logreg_cuda settings: " + settings_json + "\n" + kMetricsColumns + "\n");
  } else {
    nlohmann::json header;
    header["settings"] = nlohmann::json::parse(settings_json);
    write(header.dump() + "\n");
  }
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::write(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0 ||
      fsync(fileno(file_)) != 0) {
    throw ResourceError("--metrics " + path_ + ": write failed: " + std::strerror(errno));
  }
}

void MetricsLog::append(const EpochReport& r, double lr) {
  if (format_ == MetricsFormat::kCsv) {
    char line[512];
    std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.4f,%.4f,%.1f,%.8g\n", r.epoch, r.train.mean_loss(),
                  r.train.last_batch_loss, r.test.mean_loss(), r.test.accuracy_percent(), r.seconds,
                  r.samples_per_second, lr);
    write(line);
    return;
  }
  nlohmann::json rec;
  rec["epoch"] = r.epoch;
  rec["train_loss"] = r.train.mean_loss();
  rec["last_batch_loss"] = r.train.last_batch_loss;
  rec["test_loss"] = r.test.mean_loss();
  rec["test_accuracy"] = r.test.accuracy_percent();
  rec["epoch_seconds"] = r.seconds;
  rec["samples_per_second"] = r.samples_per_second;
  rec["lr"] = lr;
  write(rec.dump() + "\n");
}

}  // namespace logreg
