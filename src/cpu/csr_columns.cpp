// CsrColumns (csr_columns.hpp): a CSR matrix's entries regrouped by column, with row slots of fixed parts.
#include "csr_columns.hpp"

#include <algorithm>

#include "logreg/thread_team.hpp"

namespace logreg::cpu {

bool CsrColumns::of(const ObjectiveRows& rows, std::size_t n, std::size_t D, int parts_wanted) const {
  return start_ == rows.csr_start && index_ == rows.csr_index && values_ == rows.csr_values && n_ == n && D_ == D &&
         parts == parts_wanted;
}

void CsrColumns::build(const ObjectiveRows& rows, std::size_t n, std::size_t D, int parts_wanted) {
  const int ni = static_cast<int>(n);
  parts = parts_wanted;
  part_rows = 0;
  for (int p = 0; p < parts; ++p) {
    part_rows = std::max(part_rows, split_point(ni, p + 1, parts) - split_point(ni, p, parts));
  }
  const std::uint64_t nnz = rows.csr_start[n] - rows.csr_start[0];
  col_start.assign(D + 1, 0);
  for (std::uint64_t k = rows.csr_start[0]; k < rows.csr_start[n]; ++k) ++col_start[rows.csr_index[k] + 1];
  for (std::size_t d = 0; d < D; ++d) col_start[d + 1] += col_start[d];
  slot.resize(nnz);
  value.resize(nnz);
  std::vector<std::uint64_t> next(col_start.begin(), col_start.end() - 1);
  for (int p = 0; p < parts; ++p) {
    const std::size_t r0 = static_cast<std::size_t>(split_point(ni, p, parts));
    const std::size_t r1 = static_cast<std::size_t>(split_point(ni, p + 1, parts));
    for (std::size_t i = r0; i < r1; ++i) {  // rows in order: each column's entries come out in row order
      const std::uint32_t s = static_cast<std::uint32_t>(slot_of(p, part_rows, i, r0));
      for (std::uint64_t k = rows.csr_start[i]; k < rows.csr_start[i + 1]; ++k) {
        const std::uint64_t at = next[rows.csr_index[k]]++;
        slot[at] = s;
        value[at] = rows.csr_values[k];
      }
    }
  }
  start_ = rows.csr_start;
  index_ = rows.csr_index;
  values_ = rows.csr_values;
  n_ = n;
  D_ = D;
}

}  // namespace logreg::cpu
