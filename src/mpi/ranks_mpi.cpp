// ranks.hpp over Open MPI (LOGREG_MPI on): MPI_COMM_WORLD, started only when an MPI launcher started this
// process, so a plain `logreg_cuda ...` never initialises MPI. Every MPI call's status is checked; MPI's default
// error handler (MPI_ERRORS_ARE_FATAL) already ends the whole run on a communication failure, which is what a
// rank that cannot reach its peers must do.
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/ranks.hpp"
#include "logreg/thread_team.hpp"

namespace logreg::ranks {
namespace {

bool g_started = false;
int g_rank = 0;
int g_size = 1;
int g_local_size = 1;
int g_local_rank = 0;

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

void check(int status, const char* call) {
  if (status != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(status, text, &len);
    throw ResourceError(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
  }
}

// The first part of rank r: part p belongs to rank floor(p * size / parts), so rank r starts at
// ceil(r * parts / size).
int first_part(int r, int parts) {
  return static_cast<int>((static_cast<long long>(r) * parts + g_size - 1) / g_size);
}

}  // namespace

bool start(int* argc, char*** argv) {
  if (g_started || !launched_by_mpi()) return false;
  check(MPI_Init(argc, argv), "MPI_Init");
  g_started = true;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size");
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  check(MPI_Comm_size(node, &g_local_size), "MPI_Comm_size");
  check(MPI_Comm_rank(node, &g_local_rank), "MPI_Comm_rank");
  MPI_Comm_free(&node);
  return true;
}

void finish() {
  if (!g_started) return;
  g_started = false;
  MPI_Finalize();
}

void abort_all(int code) {
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

bool active() { return g_started; }
int rank() { return g_rank; }
int size() { return g_size; }
int local_size() { return g_local_size; }
int local_rank() { return g_local_rank; }
bool is_root() { return g_rank == 0; }

std::string message_prefix() {
  return g_size > 1 ? "rank " + std::to_string(g_rank) + " of " + std::to_string(g_size) + ": " : "";
}

std::pair<int, int> parts_of(int parts) { return {first_part(g_rank, parts), first_part(g_rank + 1, parts)}; }

std::pair<std::size_t, std::size_t> rows_of(std::size_t n, int parts) {
  const std::pair<int, int> mine = parts_of(parts);
  const int ni = static_cast<int>(n);  // the objective's row count is below 2^31
  return {static_cast<std::size_t>(cpu::split_point(ni, mine.first, parts)),
          static_cast<std::size_t>(cpu::split_point(ni, mine.second, parts))};
}

void allgather_parts(double* buffer, int parts, std::size_t stride) {
  if (g_size == 1) return;
  std::vector<int> counts(static_cast<std::size_t>(g_size));
  std::vector<int> displs(static_cast<std::size_t>(g_size));
  for (int r = 0; r < g_size; ++r) {
    const int first = first_part(r, parts);
    const int last = first_part(r + 1, parts);
    counts[static_cast<std::size_t>(r)] = static_cast<int>(static_cast<std::size_t>(last - first) * stride);
    displs[static_cast<std::size_t>(r)] = static_cast<int>(static_cast<std::size_t>(first) * stride);
  }
  check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, counts.data(), displs.data(), MPI_DOUBLE,
                       MPI_COMM_WORLD),
        "MPI_Allgatherv");
}

void check_same(std::uint64_t value, const std::string& what) {
  if (g_size == 1) return;
  std::vector<unsigned long long> all(static_cast<std::size_t>(g_size));
  const unsigned long long mine = value;
  check(MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD),
        "MPI_Allgather");
  for (int r = 1; r < g_size; ++r) {
    if (all[static_cast<std::size_t>(r)] != all[0]) {
      throw DataError("", "rank " + std::to_string(r) + " sees different " + what +
                              " from rank 0 (every rank must load the same data with the same settings)");
    }
  }
}

}  // namespace logreg::ranks
