// SimulatedRanks: a PartShare (part_sums.hpp) that plays rank `rank` of `size` inside one process, for tests of the
// engines that compute the full-batch objective part by part. parts_of gives the rank its parts as ranks.hpp shares
// them out (part p to rank floor(p * size / parts)); the exchange keeps the rank's own parts' sums in a store and
// fills in the other ranks' from it. Run every rank once to fill the store, then again: the second round's results
// are those that `size` real ranks would get. window() is the image set such a rank holds (its parts' rows only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "logreg/dataset.hpp"
#include "logreg/maths/row_parts.hpp"
#include "logreg/part_sums.hpp"

namespace logreg::test {

struct SimulatedRanks {
  static inline int rank = 0;
  static inline int size = 1;
  static inline std::vector<double> store;  // (parts, stride) the last sums each rank computed

  static int first_part(int r, int parts) { return static_cast<int>((static_cast<long long>(r) * parts + size - 1) / size); }
  static std::pair<int, int> parts_of(int parts) { return {first_part(rank, parts), first_part(rank + 1, parts)}; }
  static void allgather(double* sums, int parts, std::size_t stride) {
    store.resize(static_cast<std::size_t>(parts) * stride);
    const std::pair<int, int> mine = parts_of(parts);
    for (int p = 0; p < parts; ++p) {
      double* at = sums + static_cast<std::size_t>(p) * stride;
      double* kept = store.data() + static_cast<std::size_t>(p) * stride;
      for (std::size_t j = 0; j < stride; ++j) {
        if (p >= mine.first && p < mine.second) kept[j] = at[j];
        else at[j] = kept[j];
      }
    }
  }
  static PartShare share() { return PartShare{&parts_of, &allgather}; }

  // The rows of `all` that this rank's parts of the objective over rows 0 .. n-1 need, as a window.
  static ImageSet window(const ImageSet& all, std::size_t n) {
    const int parts = full_batch_parts(n);
    const std::pair<int, int> mine = parts_of(parts);
    const int ni = static_cast<int>(n);
    ImageSet w = all;
    w.first = static_cast<std::uint32_t>(part_start(ni, mine.first, parts));
    const std::size_t last = static_cast<std::size_t>(part_start(ni, mine.second, parts));
    w.pixels.assign(all.pixels.begin() + static_cast<std::ptrdiff_t>(w.first * all.dim()),
                    all.pixels.begin() + static_cast<std::ptrdiff_t>(last * all.dim()));
    return w;
  }
};

}  // namespace logreg::test
