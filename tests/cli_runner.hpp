// Runs the logreg_cuda executable (LOGREG_CUDA_EXE) as a user would, for the CLI tests: exit code,
// stdout and stderr captured separately, and both together for message checks; a table of command lines that
// must be refused as usage errors naming what was wrong. The environment
// variable LOGREG_CUDA_EXE, when set, names the executable instead (a build carried to a GPU machine
// lives at another path than the one compiled in).
#pragma once

#include <sys/wait.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace logreg::test {

struct CliResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;     // stdout
  std::string err;     // stderr
  std::string output;  // stdout followed by stderr
};

// `args` is appended to the executable's path and run by the shell; `prefix` (e.g. a prlimit call)
// goes before the executable's path.
inline std::string CliExecutable() {
  const char* from_env = std::getenv("LOGREG_CUDA_EXE");
  return from_env != nullptr && *from_env != '\0' ? std::string(from_env) : std::string(LOGREG_CUDA_EXE);
}

inline CliResult RunCli(const std::string& args, const std::string& prefix = "") {
  const TempDir tmp;
  const std::string err_file = tmp.file("stderr.txt");
  const std::string cmd = prefix + CliExecutable() + " " + args + " 2>" + err_file;
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) r.out += buf.data();
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream err(err_file);
  r.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
  r.output = r.out + r.err;
  return r;
}

// A command line (after the common start) that must exit with 2 (a usage error) and print `message`.
struct Refusal {
  const char* args;
  const char* message;
};

// Runs `start` + " " + args of every case and checks its exit code and message.
inline void ExpectRefusals(const std::string& start, const std::vector<Refusal>& cases) {
  for (const Refusal& c : cases) {
    const CliResult r = RunCli(start + " " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

}  // namespace logreg::test
