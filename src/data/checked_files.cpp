// Input and output file checks (include/logreg/checked_files.hpp): regular inputs opened without blocking,
// output targets through symlinks, the pre-flight of an output, outputs distinct from inputs and from each
// other, and the advisory lock beside an output.
#include "logreg/checked_files.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "logreg/errors.hpp"

namespace logreg {
namespace {

namespace fs = std::filesystem;

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

std::string dir_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

std::string prefixed(const std::string& what, const std::string& path) {
  return what.empty() ? path : what + " " + path;
}

}  // namespace

int open_regular_for_reading(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw DataError(prefixed(what, path), std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw DataError(prefixed(what, path), std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw DataError(prefixed(what, path), std::string("is ") + kind_of(st.st_mode) + ", expected a regular file");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

void require_regular_input(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw DataError(prefixed(what, path), std::string("cannot open: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw DataError(prefixed(what, path), std::string("is ") + kind_of(st.st_mode) + ", expected a regular file");
  }
}

std::string resolve_output_target(const std::string& path) {
  std::string current = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return current;
    std::string target(PATH_MAX, '\0');
    const ssize_t n = ::readlink(current.c_str(), target.data(), target.size());
    if (n < 0 || static_cast<std::size_t>(n) >= target.size()) {
      throw ResourceError(path + ": cannot read the symbolic link " + current + ": " +
                          std::strerror(n < 0 ? errno : ENAMETOOLONG));
    }
    target.resize(static_cast<std::size_t>(n));
    const fs::path t(target);
    current = t.is_absolute() ? target : (fs::path(dir_of(current)) / t).string();
  }
  throw ResourceError(path + ": too many levels of symbolic links");
}

void check_output_target(const std::string& flag, const std::string& path) {
  const std::string what = flag + " " + path;
  if (path.empty()) throw UsageError(flag + ": the file name is empty");
  const std::string target = resolve_output_target(path);
  const std::string via = target == path ? std::string() : " (the symbolic link's target " + target + ")";
  const fs::path tp(target);
  if (!tp.has_filename()) throw ResourceError(what + ": names a directory, expected a file name");
  const std::string dir = dir_of(target);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ResourceError(what + ": the directory " + fs::absolute(dir).string() + " does not exist" + via);
  }
  if (::lstat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw ResourceError(what + ": is " + kind_of(st.st_mode) + via +
                        "; outputs must be regular files (written to a temporary file and renamed over it)");
  }
  // The temporary file beside the target must fit the file system's limits too.
  long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max <= 0) name_max = NAME_MAX;
  const std::string name = tp.filename().string();
  if (name.size() + kTempSuffixChars > static_cast<std::size_t>(name_max)) {
    throw ResourceError(what + ": the file name is " + std::to_string(name.size()) + " bytes; with the temporary suffix " +
                        "\".tmp.XXXXXX\" it exceeds the limit of " + std::to_string(name_max) + " bytes in " + dir);
  }
  if (target.size() + kTempSuffixChars >= PATH_MAX) {
    throw ResourceError(what + ": the path is too long (" + std::to_string(target.size()) + " bytes)");
  }
  // Creating (and removing) a scratch file tells a read-only or full directory apart before hours of
  // training, where checking permission bits would not (root, read-only mounts).
  std::string probe = (fs::path(dir) / ".logreg_cuda_probe.XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) {
    throw ResourceError(what + ": cannot write " + target + ": cannot create files in " + dir + ": " + std::strerror(errno));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

void check_distinct_files(const std::vector<FileRole>& files,
                          const std::vector<std::pair<std::string, std::string>>& allowed) {
  struct Identity {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    std::string resolved;
  };
  std::vector<Identity> ids;
  for (const FileRole& f : files) {
    Identity id;
    struct stat st {};
    if (!f.path.empty() && ::stat(f.path.c_str(), &st) == 0) {
      id.exists = true;
      id.dev = st.st_dev;
      id.ino = st.st_ino;
    }
    std::error_code ec;
    const fs::path r = fs::weakly_canonical(fs::absolute(resolve_output_target(f.path), ec), ec);
    id.resolved = ec ? f.path : r.string();
    ids.push_back(id);
  }
  auto exempt = [&](const std::string& a, const std::string& b) {
    for (const auto& [x, y] : allowed) {
      if ((x == a && y == b) || (x == b && y == a)) return true;
    }
    return false;
  };
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i].path.empty() || !files[i].output) continue;
    for (std::size_t j = 0; j < files.size(); ++j) {
      if (j == i || files[j].path.empty() || (files[j].output && j < i)) continue;
      const bool same = (ids[i].exists && ids[j].exists) ? (ids[i].dev == ids[j].dev && ids[i].ino == ids[j].ino)
                                                         : ids[i].resolved == ids[j].resolved;
      if (!same || exempt(files[i].flag, files[j].flag)) continue;
      throw UsageError(files[i].flag + " " + files[i].path + " is the same file as " + files[j].flag + " " +
                       files[j].path + (files[j].output ? ": two outputs cannot share a file"
                                                        : ": writing it would destroy an input"));
    }
  }
}

OutputLock::OutputLock(const std::string& flag, const std::string& path) {
  const std::string target = resolve_output_target(path);
  const fs::path tp(target);
  lock_path_ = (fs::path(dir_of(target)) / ("." + tp.filename().string() + ".lock")).string();
  for (int attempt = 0; attempt < 100; ++attempt) {
    created_ = true;
    int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EEXIST) {
      created_ = false;
      fd = ::open(lock_path_.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    }
    if (fd < 0) {
      throw ResourceError(flag + " " + path + ": cannot create its lock file " + lock_path_ + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        throw ResourceError(flag + " " + path + ": another logreg_cuda process is writing this file (it holds the lock " +
                            lock_path_ + "); refusing to write it too");
      }
      throw ResourceError(flag + " " + path + ": cannot lock " + lock_path_ + ": " + std::strerror(err));
    }
    // The holder before us may have removed the lock file after we opened it: lock the file that is there.
    struct stat held {}, now {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path_.c_str(), &now) == 0 && held.st_dev == now.st_dev &&
        held.st_ino == now.st_ino) {
      fd_ = fd;
      return;
    }
    ::close(fd);
  }
  throw ResourceError(flag + " " + path + ": cannot lock " + lock_path_ + ": it keeps being replaced");
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  if (created_) ::unlink(lock_path_.c_str());
  ::close(fd_);
}

}  // namespace logreg
