// The process's place among the MPI ranks of a data-parallel run (`mpirun -np N logreg_cuda train ...`), and
// the few collective operations the full-batch objective needs. Without MPI (a build with LOGREG_MPI=off, or a
// process not started by mpirun) this is one rank of one: every call below is then a no-op, and no MPI library
// is initialised. Implemented in src/mpi/ (ranks_mpi.cpp with Open MPI, ranks_single.cpp without).
//
// How results stay the same at any rank count: the full-batch objective already sums its rows in a fixed number
// of row parts, each into its own buffer, added in part order (cpu/full_batch_objective.hpp). Under N ranks each
// rank computes a contiguous range of those parts (parts_of), every rank receives all the parts' buffers
// (allgather_parts) and adds them in the same part order, so each rank holds the sums a single process would
// have, bit for bit, and the solver takes identical steps on every rank.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "logreg/part_sums.hpp"

namespace logreg::ranks {

// Starts MPI when this build has it and the process was started by an MPI launcher (mpirun, srun); call once,
// first thing in main. Returns whether MPI was started. Throws UsageError when launched by mpirun in a build
// without MPI support and more than one rank was asked for.
bool start(int* argc, char*** argv);
// Ends MPI (MPI_Finalize) if start began it. Call on the normal exit path of every rank.
void finish();
// Ends every rank of the run now, with exit status `code`, after this rank printed why (MPI_Abort): what a
// failing rank does so that the others never wait for it. Returns only without MPI (then the caller exits).
void abort_all(int code);

// Whether start began MPI: the process runs under mpirun (or srun), whatever the rank count, 1 included.
bool active();
int rank();        // 0 .. size() - 1; 0 without MPI
int size();        // 1 without MPI
int local_size();  // ranks on this node (they share its cores); 1 without MPI
int local_rank();  // 0 .. local_size() - 1: this rank among those of its node (picks its GPU); 0 without MPI
bool is_root();    // rank() == 0: the rank that prints, writes metrics and saves
// "rank r of N: " when size() > 1, else "" (prefixes the messages a rank prints on stderr).
std::string message_prefix();

// [first, last) of `parts` fixed parts computed by this rank: part p belongs to rank p * size() / parts
// (rounded down), so ranks get contiguous, near-equal ranges; a rank past the part count gets none.
std::pair<int, int> parts_of(int parts);
// [first, last) positions of this rank's parts when n rows are cut into `parts` parts at cpu::split_point
// (thread_team.hpp): the rows a rank needs in memory (all n in a single process; none for a rank without parts).
std::pair<std::size_t, std::size_t> rows_of(std::size_t n, int parts);
// buffer is (parts, stride) doubles; this rank filled its parts_of(parts) rows. On return every rank holds
// every rank's rows (MPI_Allgatherv in place). No-op with one rank.
void allgather_parts(double* buffer, int parts, std::size_t stride);
// parts_of and allgather_parts as a PartShare (part_sums.hpp), for the engines that compute the objective part
// by part (the reference here; the CUDA module, which is handed it through CudaOptions).
inline PartShare part_share() { return PartShare{&parts_of, &allgather_parts}; }

// FNV-1a over the bytes of what every rank fits, for check_same.
struct Fingerprint {
  std::uint64_t value = 1469598103934665603ull;
  void mix(const std::uint8_t* bytes, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) value = (value ^ bytes[i]) * 1099511628211ull;
  }
  void mix(std::uint64_t v) {
    for (int b = 0; b < 8; ++b) value = (value ^ ((v >> (8 * b)) & 0xFF)) * 1099511628211ull;
  }
};
// Checks that every rank passed the same value (e.g. a fingerprint of the training rows); throws DataError
// naming `what` and the first rank that differs from rank 0.
void check_same(std::uint64_t value, const std::string& what);

}  // namespace logreg::ranks
