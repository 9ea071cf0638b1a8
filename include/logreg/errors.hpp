// Exception types of logreg_cuda and the process exit code each maps to.
// Library code throws these; only src/cli/ turns them into exit codes and messages.
#pragma once

#include <stdexcept>
#include <string>

namespace logreg {

// Documented in README ("Exit codes").
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,      // anything not classified below
  kUsage = 2,        // bad command line
  kBadData = 3,      // unreadable or malformed input file
  kDiverged = 4,     // non-finite loss or weights
  kDevice = 5,       // CUDA / cuBLAS / out-of-memory / I/O resource error
  kHangup = 129,       // SIGHUP (the terminal closed); the model was saved as for SIGINT
  kInterrupted = 130,
  kTerminated = 143,
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(ExitCode::kUsage, what) {}
};

// A data file that cannot be used: missing, unreadable, malformed. `file` names it.
class DataError : public Error {
 public:
  DataError(const std::string& file, const std::string& what)
      : Error(ExitCode::kBadData, file.empty() ? what : file + ": " + what), file_(file) {}
  const std::string& file() const noexcept { return file_; }

 private:
  std::string file_;
};

class DivergedError : public Error {
 public:
  explicit DivergedError(const std::string& what) : Error(ExitCode::kDiverged, what) {}
};

// CUDA, cuBLAS, out of memory, output files that cannot be written.
class ResourceError : public Error {
 public:
  explicit ResourceError(const std::string& what) : Error(ExitCode::kDevice, what) {}
};

}  // namespace logreg
