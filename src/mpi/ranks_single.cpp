// ranks.hpp without MPI (LOGREG_MPI=off or no MPI library found): one rank of one. A process started by mpirun
// with several ranks would otherwise run N independent copies that all print and save; it is refused instead.
#include <cstdlib>
#include <string>

#include "logreg/errors.hpp"
#include "logreg/ranks.hpp"

namespace logreg::ranks {

bool start(int*, char***) {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && std::atoi(v) > 1) {
      throw UsageError(std::string("started by an MPI launcher with ") + v +
                       " ranks, but this logreg_cuda was built without MPI (LOGREG_MPI=off or no Open MPI found at "
                       "build time): rebuild with libopenmpi-dev installed, or run one process without mpirun");
    }
  }
  return false;
}
void finish() {}
void abort_all(int) {}
bool active() { return false; }
int rank() { return 0; }
int size() { return 1; }
int local_size() { return 1; }
int local_rank() { return 0; }
bool is_root() { return true; }
std::string message_prefix() { return ""; }
std::pair<int, int> parts_of(int parts) { return {0, parts}; }
std::pair<std::size_t, std::size_t> rows_of(std::size_t n, int) { return {0, n}; }
void allgather_parts(double*, int, std::size_t) {}
void check_same(std::uint64_t, const std::string&) {}

}  // namespace logreg::ranks
