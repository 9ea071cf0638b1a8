// Stand-in for the CUDA backend (include/logreg/cuda_backend.hpp) in the host-only fuzz build, where
// nothing is compiled by nvcc: one definition per function the CLI sources reference. fuzz_cli only
// parses command lines and never runs a subcommand, so none of these may ever be called; each aborts
// (a finding) if one is. A new backend function used by src/cli/ needs a line here.
#include "logreg/cuda_backend.hpp"

#include <cstdio>
#include <cstdlib>

namespace logreg {
namespace {

[[noreturn]] void unreachable(const char* what) {
  std::fprintf(stderr, "fuzz build: %s called; the CUDA backend is a stub here and no subcommand may run\n", what);
  std::abort();
}

}  // namespace

CudaProbe probe_cuda() { unreachable("probe_cuda"); }

const char* residency_name(Residency) { unreachable("residency_name"); }

bool parse_residency(const std::string&, Residency*) { unreachable("parse_residency"); }

std::size_t resident_bytes(std::size_t, std::size_t, std::size_t) { unreachable("resident_bytes"); }

Residency resolve_residency(Residency, std::size_t, std::size_t) { unreachable("resolve_residency"); }

std::unique_ptr<TrainerBackend> make_cuda_backend(const ImageSet&, const LabelSet&, const Model&,
                                                  const CudaOptions&) {
  unreachable("make_cuda_backend");
}

}  // namespace logreg
