// Per-epoch metrics files for `train --metrics FILE`: CSV (FILE ends in .csv) or JSON Lines (.jsonl), one
// record per epoch flushed as the run goes. A CSV's first line is its column header (pandas.read_csv and
// csv.DictReader read it as is); the run's settings go to FILE.json beside it. A JSONL file's first record
// holds the settings.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "logreg/training.hpp"

namespace logreg {

enum class MetricsFormat { kCsv, kJsonl };

// The format of a metrics file name; UsageError unless it ends in .csv or .jsonl.
MetricsFormat metrics_format_of(const std::string& path);

// Where a metrics file's settings go: FILE.json for a CSV, "" for JSONL (its first record).
std::string metrics_settings_path(const std::string& path);

class MetricsLog {
 public:
  // Opens the file (a symlink is written through) and takes an advisory lock on it (ResourceError when
  // another process holds it), then: keep_epochs < 0 starts it afresh (header, or the settings record);
  // keep_epochs >= 0 (--resume) keeps its header and the records of epochs 1..keep_epochs and appends after
  // them (a file that is absent or has other columns starts afresh). The settings are written (a CSV's
  // FILE.json atomically). With `validation` every record also has val_loss and val_accuracy.
  // ResourceError when it can't write.
  // `columns` (a CSV header without the newline) replaces the epoch columns for files of other records (the
  // L-BFGS iterations), written with append_record.
  MetricsLog(const std::string& path, const std::string& settings_json, bool validation = false, int keep_epochs = -1,
             const char* columns = nullptr);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Appends one record and flushes it to the file. On a failed write (ResourceError) the file is cut
  // back to its last complete record and closed; later appends are not allowed.
  void append(const EpochReport& report, double lr);

  // Appends one record of the file's own columns: `csv_line` (the values in column order) or `json_line` (one
  // JSON object), whichever the format is; no newline in either.
  void append_record(const std::string& csv_line, const std::string& json_line);

  MetricsFormat format() const { return format_; }
  const std::string& path() const { return path_; }

 private:
  void write(const std::string& text);
  std::string path_;
  MetricsFormat format_;
  bool validation_ = false;
  bool created_ = false;  // this process created the file (only then may a failure remove it)
  int fd_ = -1;
  long complete_bytes_ = 0;  // file length after the last complete record (the header counts as one)
  int records_ = 0;
  std::chrono::steady_clock::time_point synced_;  // the last fsync
};

// The CSV columns, in order; with a validation split kMetricsValColumns follow them.
inline constexpr const char* kMetricsColumns =
    "epoch,train_loss,last_batch_loss,test_loss,test_accuracy,epoch_seconds,samples_per_second,lr";
inline constexpr const char* kMetricsValColumns = ",val_loss,val_accuracy";

}  // namespace logreg
