// Entry point of logreg_cuda: builds the CLI11 app (cli_app.cpp), parses, and maps every exception to a
// one-line message on stderr and the documented exit code. Also the process-wide signal and stdout rules:
// SIGPIPE and SIGXFSZ are ignored (a closed pipe or a file-size limit becomes a write error the code reports),
// and stdout is flushed and checked before exit 0 (a lost output is exit 5, never a silent success). Under mpirun
// (ranks.hpp) rank 0 alone prints, errors name their rank, and a failing rank ends every rank.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "logreg/errors.hpp"
#include "logreg/ranks.hpp"

namespace {

// A closed stdin/stdout/stderr would make the next open() take its number (stdout's text would then land
// in, say, the metrics file): hold the number with a descriptor that fails every write instead.
void hold_closed_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      const int held = ::open("/dev/null", O_RDONLY);  // read-only: writes to it fail with EBADF
      if (held >= 0 && held != fd) {
        ::dup2(held, fd);
        ::close(held);
      }
    }
  }
}

// Exit status after the command: a failed write to stdout turns success into exit 5.
int finish_stdout(int rc) {
  std::cout.flush();
  const bool ok = std::fflush(stdout) == 0 && !std::ferror(stdout) && !std::cout.fail();
  if (ok || rc != 0) return rc;
  std::cerr << "logreg_cuda: error: writing to standard output failed: "
            << (errno != 0 ? std::strerror(errno) : "write error") << "\n";
  return static_cast<int>(logreg::ExitCode::kDevice);
}

// Where errors are written: stderr, or for a silenced MPI rank a copy of the stderr it started with.
int g_error_fd = STDERR_FILENO;

// A rank other than 0: stdout and stderr to /dev/null (rank 0 prints the run), errors still to the terminal.
void silence_output() {
  g_error_fd = ::dup(STDERR_FILENO);
  if (g_error_fd < 0) g_error_fd = STDERR_FILENO;
  std::cout.flush();
  std::cerr.flush();
  const int null_fd = ::open("/dev/null", O_WRONLY);
  if (null_fd < 0) return;
  ::dup2(null_fd, STDOUT_FILENO);
  if (g_error_fd != STDERR_FILENO) ::dup2(null_fd, STDERR_FILENO);
  ::close(null_fd);
}

void print_error(const std::string& text) {
  std::cerr.flush();
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(g_error_fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to report to
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using logreg::ExitCode;
  hold_closed_standard_descriptors();
  std::signal(SIGPIPE, SIG_IGN);  // EPIPE instead: the commands check their writes
  std::signal(SIGXFSZ, SIG_IGN);  // EFBIG ("File too large") instead of a silent kill with temporaries left
  CLI::App app;
  logreg::cli::build_cli(app);
  int rc = 0;
  errno = 0;
  std::ostringstream error;  // the one-line message of a failure
  try {
    // Under mpirun every rank runs the command and rank 0 alone prints: the others' stdout and stderr go to
    // /dev/null, and only their own errors reach the terminal.
    if (logreg::ranks::start(&argc, &argv) && !logreg::ranks::is_root()) silence_output();
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out;
    const int code = app.exit(e, out, error);  // help/version (rc 0) or the parse error
    std::cout << out.str();
    rc = code == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  } catch (const logreg::Error& e) {
    error << "logreg_cuda: error: " << logreg::ranks::message_prefix() << e.what() << "\n";
    rc = static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    error << "logreg_cuda: error: " << logreg::ranks::message_prefix() << "out of host memory\n";
    rc = static_cast<int>(ExitCode::kDevice);
  } catch (const nlohmann::json::exception& e) {
    // Never the library's "[json.exception...]" text: say what failed in words.
    error << "logreg_cuda: error: " << logreg::ranks::message_prefix()
          << "internal error formatting or reading a JSON record (id " << e.id << ")\n";
    rc = static_cast<int>(ExitCode::kFailure);
  } catch (const std::exception& e) {
    error << "logreg_cuda: error: " << logreg::ranks::message_prefix() << e.what() << "\n";
    rc = static_cast<int>(ExitCode::kFailure);
  }
  if (rc != 0 && logreg::ranks::size() > 1 && !logreg::ranks::is_root()) {
    // Rank 0 mostly fails the same way (the same arguments, the same files) and ends the run with its message;
    // another rank's own failure is reported after this pause.
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  print_error(error.str());
  rc = finish_stdout(rc);
  if (rc != 0) logreg::ranks::abort_all(rc);  // a failing rank ends them all: the others would wait for its sums
  logreg::ranks::finish();
  return rc;
}
