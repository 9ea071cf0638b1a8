// Entry point of logreg_cuda: builds the CLI11 app (cli_app.cpp), parses, and maps every exception to a
// one-line message on stderr and the documented exit code. Also the process-wide signal and stdout rules:
// SIGPIPE and SIGXFSZ are ignored (a closed pipe or a file-size limit becomes a write error the code reports),
// and stdout is flushed and checked before exit 0 (a lost output is exit 5, never a silent success).
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "logreg/errors.hpp"

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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (rc 0) or the parse error
    rc = code == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  } catch (const logreg::Error& e) {
    std::cerr << "logreg_cuda: error: " << e.what() << "\n";
    rc = static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::cerr << "logreg_cuda: error: out of host memory\n";
    rc = static_cast<int>(ExitCode::kDevice);
  } catch (const nlohmann::json::exception& e) {
    // Never the library's "[json.exception...]" text: say what failed in words.
    std::cerr << "logreg_cuda: error: internal error formatting or reading a JSON record (id " << e.id << ")\n";
    rc = static_cast<int>(ExitCode::kFailure);
  } catch (const std::exception& e) {
    std::cerr << "logreg_cuda: error: " << e.what() << "\n";
    rc = static_cast<int>(ExitCode::kFailure);
  }
  return finish_stdout(rc);
}
