// CsrColumns: the entries of a set of CSR rows again in column order (CSC), each naming the slot of its row's dz
// in a buffer of fixed row parts, so that the CSR weight gradient is summed column by column
// (csr_gradient_columns, objective_loops.hpp) instead of scattered into a gradient buffer per part. Built once per
// fit; not here: the rows' pass (objective_rows) nor the column pass itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "objective_loops.hpp"

namespace logreg::cpu {

struct CsrColumns {
  // Rows cut into `parts` parts at split_point; part p's dz rows are slots [p * part_rows, p * part_rows + its
  // row count) of a (parts * part_rows, Ck) buffer (part_rows: the largest part's rows), so that the buffer is
  // (parts, part_rows * Ck) for ranks::allgather_parts.
  std::vector<std::uint64_t> col_start;  // (D + 1) column d holds entries [col_start[d], col_start[d + 1])
  std::vector<std::uint32_t> slot;       // (nnz) each entry's row slot, ascending within a column (row order)
  std::vector<double> value;             // (nnz)
  int part_rows = 0;
  int parts = 0;

  // Whether these columns are of `rows` (n rows of D columns, in `parts` parts) as build left them.
  bool of(const ObjectiveRows& rows, std::size_t n, std::size_t D, int parts) const;
  // Builds the columns of rows (kCsr, n rows of D columns) in `parts` parts; entries of one row that share a
  // column keep their CSR order.
  void build(const ObjectiveRows& rows, std::size_t n, std::size_t D, int parts);

  // The slot of row i (in part p, which starts at row r0).
  static std::size_t slot_of(int p, int part_rows, std::size_t i, std::size_t r0) {
    return static_cast<std::size_t>(p) * static_cast<std::size_t>(part_rows) + (i - r0);
  }

 private:
  const std::uint64_t* start_ = nullptr;  // the rows they were built from
  const std::uint32_t* index_ = nullptr;
  const double* values_ = nullptr;
  std::size_t n_ = 0, D_ = 0;
};

}  // namespace logreg::cpu
