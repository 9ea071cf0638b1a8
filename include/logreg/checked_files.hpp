// Checks on the files the program reads and writes, made before any work: inputs must be regular files
// (a FIFO or device would hang or never end), outputs must be regular files or not yet exist (a symlink is
// followed to the file it names), no output may be an input or another output, and an advisory lock keeps
// a second process from writing the same output. Not here: the atomic writer (whole_file.hpp).
#pragma once

#include <string>
#include <vector>

namespace logreg {

// Opens `path` for reading without blocking (a FIFO would block in open()), and refuses anything but a
// regular file. DataError naming `what` and `path`: missing, unreadable, a directory, FIFO, device or
// socket. Returns an open descriptor in blocking mode; the caller closes it.
int open_regular_for_reading(const std::string& path, const std::string& what);

// The same checks without opening: DataError unless `path` names (through symlinks) a regular file.
// `what` is the option or the role, e.g. "--model".
void require_regular_input(const std::string& path, const std::string& what);

// The file a write to `path` lands in: symlinks are followed (a chain, relative targets resolved against
// the link's directory), so writing there replaces the file the link names and the link stays. The result
// may not exist yet. ResourceError when the chain loops or is too long.
std::string resolve_output_target(const std::string& path);

// Suffix of the temporary file the atomic writer creates next to the target: target + this + 6 characters.
inline constexpr const char* kTempSuffix = ".tmp.";
inline constexpr std::size_t kTempSuffixChars = 11;  // ".tmp.XXXXXX"

// Pre-flight for an output (`flag` such as "--save"): the directory exists, the target is absent or a
// regular file (a device, FIFO, socket or directory is refused), the temporary name fits the file system's
// name limit, and a file can be created in the directory. ResourceError naming the flag and the path.
void check_output_target(const std::string& flag, const std::string& path);

// One path the command reads or writes, for check_distinct_files.
struct FileRole {
  std::string flag;  // e.g. "--save", "--images", "data file"
  std::string path;
  bool output = false;
};

// UsageError when an output is the same file as an input or as another output (same inode when both
// exist; the same resolved path otherwise). Inputs may repeat. `allowed` pairs of flags are exempt
// (e.g. {"--resume", "--save"}: the model is read whole before it is replaced atomically).
void check_distinct_files(const std::vector<FileRole>& files,
                          const std::vector<std::pair<std::string, std::string>>& allowed = {});

// An advisory lock (flock) on a lock file beside an output, ".NAME.lock" in its directory, held while the
// object lives: a second process asking for the same output gets a ResourceError naming it. The lock file
// is removed on release only when this process created it.
class OutputLock {
 public:
  OutputLock(const std::string& flag, const std::string& path);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  int fd_ = -1;
  std::string lock_path_;
  bool created_ = false;
};

}  // namespace logreg
