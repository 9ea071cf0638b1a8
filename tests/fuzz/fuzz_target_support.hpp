// What the fuzz targets share: one private temporary directory per process (removed at exit) to put
// fuzzed bytes into files, so the readers' file paths (open, gunzip, limits) run too.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace logreg::fuzz {

inline const std::string& scratch_dir() {
  static const std::string* dir = [] {  // never freed: the atexit handler below still needs it
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/logreg_fuzz.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("logreg fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return new std::string(tmpl);
  }();
  return *dir;
}

// Writes `size` bytes to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(("logreg fuzz: writing " + path).c_str());
    std::abort();
  }
  return path;
}

// A broken invariant: a finding, reported like a crash.
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "logreg fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace logreg::fuzz
