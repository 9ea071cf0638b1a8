// MetricsLog: CSV or JSON Lines per-epoch records, each line written to the file as it comes (a crashed process
// keeps the records already done) and fsync'd at most once a second and when the log closes, so that an L-BFGS
// fit's record per iteration (milliseconds apart) does not wait for the disk each time while an SGD run's
// epochs (seconds apart) still reach it one by one. The file is locked (flock) against a second writer before anything
// in it changes; --resume keeps the records up to the resumed epoch. A failed write (disk full, file size
// limit) cuts the file back to its last complete record, so the file never ends in half a line.
#include "logreg/metrics_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "logreg/checked_files.hpp"
#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string read_all(int fd) {
  std::string text;
  char buf[1 << 16];
  ::lseek(fd, 0, SEEK_SET);
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

// The epoch number a record line starts with (CSV: the first field; JSONL: "epoch"), or -1.
long epoch_of_line(MetricsFormat format, const std::string& line) {
  if (format == MetricsFormat::kCsv) {
    char* end = nullptr;
    const long e = std::strtol(line.c_str(), &end, 10);
    return end != line.c_str() && *end == ',' ? e : -1;
  }
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer()) return -1;
  return j["epoch"].get<long>();
}

}  // namespace

MetricsFormat metrics_format_of(const std::string& path) {
  if (ends_with(path, ".csv")) return MetricsFormat::kCsv;
  if (ends_with(path, ".jsonl")) return MetricsFormat::kJsonl;
  throw UsageError("--metrics " + path + ": the file name must end in .csv or .jsonl");
}

std::string metrics_settings_path(const std::string& path) {
  return metrics_format_of(path) == MetricsFormat::kCsv ? path + ".json" : std::string();
}

MetricsLog::MetricsLog(const std::string& path, const std::string& settings_json, bool validation, int keep_epochs,
                       const char* columns)
    : path_(path), format_(metrics_format_of(path)), validation_(validation) {
  const std::string target = resolve_output_target(path);
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw ResourceError("--metrics " + path + ": not a regular file; outputs must be regular files");
  }
  created_ = true;
  fd_ = ::open(target.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0 && errno == EEXIST) {
    created_ = false;
    fd_ = ::open(target.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  }
  if (fd_ < 0) throw ResourceError("--metrics " + path + ": cannot create the file: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw ResourceError("--metrics " + path + ": " +
                        (err == EWOULDBLOCK ? std::string("another logreg_cuda process is writing this file; refusing "
                                                          "to write it too")
                                            : std::string("cannot lock it: ") + std::strerror(err)));
  }
  const std::string header =
      format_ != MetricsFormat::kCsv ? std::string()
      : columns != nullptr           ? std::string(columns) + "\n"
                                     : std::string(kMetricsColumns) + (validation_ ? kMetricsValColumns : "") + "\n";
  // --resume: keep the header and the complete records of epochs 1..keep_epochs.
  std::size_t kept = 0;
  int kept_records = 0;
  if (keep_epochs >= 0 && !created_) {
    const std::string text = read_all(fd_);
    const std::size_t first_end = text.find('\n');
    bool usable = first_end != std::string::npos;
    if (usable && format_ == MetricsFormat::kCsv) usable = text.compare(0, first_end + 1, header) == 0;
    if (usable && format_ == MetricsFormat::kJsonl) {
      const nlohmann::json first = nlohmann::json::parse(text.substr(0, first_end), nullptr, false);
      usable = !first.is_discarded() && first.is_object() && first.contains("settings");
    }
    if (usable) {
      kept = first_end + 1;
      kept_records = 1;
      long last = 0;
      for (;;) {
        const std::size_t end = text.find('\n', kept);
        if (end == std::string::npos) break;
        const std::string line = text.substr(kept, end - kept);
        if (format_ == MetricsFormat::kJsonl) {
          const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
          if (!j.is_discarded() && j.is_object() && j.contains("settings")) {  // a resumed run's settings
            kept = end + 1;
            ++kept_records;
            continue;
          }
        }
        const long e = epoch_of_line(format_, line);
        if (e < 1 || e > keep_epochs || e <= last) break;
        last = e;
        kept = end + 1;
        ++kept_records;
      }
    }
  }
  if (::ftruncate(fd_, static_cast<off_t>(kept)) != 0 || ::lseek(fd_, static_cast<off_t>(kept), SEEK_SET) < 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (created_) ::unlink(target.c_str());
    throw ResourceError("--metrics " + path + ": cannot truncate: " + std::strerror(err));
  }
  complete_bytes_ = static_cast<long>(kept);
  records_ = kept_records;
  try {
    if (format_ == MetricsFormat::kCsv) {
      write_whole_file_atomically(metrics_settings_path(path), json_text(nlohmann::json::parse(settings_json), 2) + "\n");
      if (kept == 0) write(header);
    } else {
      nlohmann::json record;
      record["settings"] = nlohmann::json::parse(settings_json);
      if (kept > 0) record["resumed_after_epoch"] = keep_epochs;
      write(json_text(record) + "\n");
    }
  } catch (const ResourceError& e) {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
      if (created_ && records_ == 0) ::unlink(target.c_str());
    }
    const std::string what = e.what();
    throw ResourceError(what.rfind("--metrics", 0) == 0 ? what : "--metrics " + path + ": " + what);
  }
}

MetricsLog::~MetricsLog() {
  if (fd_ >= 0) {
    ::fsync(fd_);  // the records since the last sync; a failure here has no one left to tell
    ::close(fd_);
  }
}

void MetricsLog::write(const std::string& text) {
  if (fd_ < 0) throw ResourceError("--metrics " + path_ + ": closed after an earlier failed write");
  std::size_t done = 0;
  int err = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  const auto now = std::chrono::steady_clock::now();
  if (err == 0 && (records_ == 0 || now - synced_ >= std::chrono::seconds(1))) {
    if (::fsync(fd_) != 0 && errno != EINVAL) err = errno;
    synced_ = now;
  }
  if (err == 0) {
    complete_bytes_ += static_cast<long>(text.size());
    ++records_;
    return;
  }
  // Cut what the failed write left after the last complete record.
  const bool cut = ::ftruncate(fd_, complete_bytes_) == 0;
  ::close(fd_);
  fd_ = -1;
  if (records_ == 0) {  // not even the header fits: leave no file we created rather than an empty one
    if (created_) ::unlink(resolve_output_target(path_).c_str());
    throw ResourceError("--metrics " + path_ + ": write failed: " + std::strerror(err) +
                        (created_ ? "; no metrics file is left" : ""));
  }
  throw ResourceError("--metrics " + path_ + ": write failed: " + std::strerror(err) +
                      (cut ? "; the file keeps its header and " + std::to_string(records_ - 1) + " complete epoch record(s)"
                           : "; cutting it back to its last complete record also failed"));
}

void MetricsLog::append_record(const std::string& csv_line, const std::string& json_line) {
  write((format_ == MetricsFormat::kCsv ? csv_line : json_line) + "\n");
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
  write(json_text(rec) + "\n");
}

}  // namespace logreg
