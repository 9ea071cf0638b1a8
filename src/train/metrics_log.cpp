// MetricsLog: CSV or JSON Lines per-epoch records, each line flushed (and fsync'd) as it is written
// so a crash keeps the epochs already done. A failed write (disk full, file size limit) cuts the file
// back to its last complete record, so the file never ends in half a line.
#include "logreg/metrics_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "logreg/errors.hpp"

namespace logreg {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, const std::string& settings_json, bool validation)
    : path_(path), validation_(validation) {
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
  try {
    if (format_ == MetricsFormat::kCsv) {
      write("# logreg_cuda settings: " + settings_json + "\n" + kMetricsColumns +
            (validation_ ? kMetricsValColumns : "") + "\n");
    } else {
      nlohmann::json header;
      header["settings"] = nlohmann::json::parse(settings_json);
      write(header.dump() + "\n");
    }
  } catch (...) {
    // write() has closed and removed the file when the write failed; anything else leaves no file either.
    if (file_ != nullptr) {
      std::fclose(file_);
      file_ = nullptr;
      std::remove(path.c_str());
    }
    throw;
  }
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::write(const std::string& text) {
  if (file_ == nullptr) throw ResourceError("--metrics " + path_ + ": closed after an earlier failed write");
  if (std::fwrite(text.data(), 1, text.size(), file_) == text.size() && std::fflush(file_) == 0 &&
      fsync(fileno(file_)) == 0) {
    complete_bytes_ += static_cast<long>(text.size());
    ++records_;
    return;
  }
  const int err = errno;
  // Drop what the failed write left in the stdio buffer and on disk after the last complete record.
  std::clearerr(file_);
  std::fclose(file_);
  file_ = nullptr;
  if (records_ == 0) {  // not even the header fits: leave no file rather than an empty or partial one
    std::remove(path_.c_str());
    throw ResourceError("--metrics " + path_ + ": write failed: " + std::strerror(err) + "; no metrics file is left");
  }
  const bool cut = ::truncate(path_.c_str(), complete_bytes_) == 0;
  throw ResourceError("--metrics " + path_ + ": write failed: " + std::strerror(err) +
                      (cut ? "; the file keeps its header and " + std::to_string(records_ - 1) + " complete epoch record(s)"
                           : "; cutting it back to its last complete record also failed"));
}

void MetricsLog::append(const EpochReport& r, double lr) {
  if (format_ == MetricsFormat::kCsv) {
    char line[512];
    int n = std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.4f,%.4f,%.1f,%.8g", r.epoch, r.train.mean_loss(),
                          r.train.last_batch_loss, r.test.mean_loss(), r.test.accuracy_percent(), r.seconds,
                          r.samples_per_second, lr);
    if (validation_ && n > 0 && static_cast<std::size_t>(n) < sizeof line) {
      n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), ",%.6f,%.4f", r.val.mean_loss(),
                         r.val.accuracy_percent());
    }
    write(std::string(line) + "\n");
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
  if (validation_) {
    rec["val_loss"] = r.val.mean_loss();
    rec["val_accuracy"] = r.val.accuracy_percent();
  }
  write(rec.dump() + "\n");
}

}  // namespace logreg
