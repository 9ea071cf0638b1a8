// Per-epoch metrics files for `train --metrics FILE`: CSV (FILE ends in .csv) or JSON Lines (.jsonl),
// a header naming the run's settings, one record per epoch flushed as the run goes.
#pragma once

#include <cstdio>
#include <string>

#include "logreg/training.hpp"

namespace logreg {

enum class MetricsFormat { kCsv, kJsonl };

class MetricsLog {
 public:
  // Chooses the format from the extension (UsageError otherwise), opens (truncates) the file and writes
  // the header; settings_json is the run's settings as a JSON object. With `validation` (the run holds out
  // a validation split) every record also has val_loss and val_accuracy. ResourceError when it can't write.
  MetricsLog(const std::string& path, const std::string& settings_json, bool validation = false);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Appends one record and flushes it to the file. On a failed write (ResourceError) the file is cut
  // back to its last complete record and closed; later appends are not allowed.
  void append(const EpochReport& report, double lr);

  MetricsFormat format() const { return format_; }
  const std::string& path() const { return path_; }

 private:
  void write(const std::string& text);

  std::string path_;
  MetricsFormat format_;
  bool validation_ = false;
  std::FILE* file_ = nullptr;
  long complete_bytes_ = 0;  // file length after the last complete record (the header counts as one)
  int records_ = 0;
};

// The CSV columns, in order; with a validation split kMetricsValColumns follow them.
inline constexpr const char* kMetricsColumns =
    "epoch,train_loss,last_batch_loss,test_loss,test_accuracy,epoch_seconds,samples_per_second,lr";
inline constexpr const char* kMetricsValColumns = ",val_loss,val_accuracy";

}  // namespace logreg
