// ranks.hpp without MPI (src/mpi/ranks_single.cpp), built into its own executable so that every build tests it,
// MPI or not: one rank of one, every collective a no-op, and a process that an MPI launcher started as one of
// several ranks refused with a UsageError that says why and what to do.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "logreg/errors.hpp"
#include "logreg/ranks.hpp"

namespace logreg {
namespace {

// Sets an environment variable for the scope of a test, restoring its absence after.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~EnvVar() { ::unsetenv(name_); }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
};

TEST(RanksSingle, OneRankOfOne) {
  EXPECT_FALSE(ranks::start(nullptr, nullptr));
  EXPECT_EQ(ranks::rank(), 0);
  EXPECT_EQ(ranks::size(), 1);
  EXPECT_FALSE(ranks::active());
  EXPECT_TRUE(ranks::is_root());
  EXPECT_EQ(ranks::local_rank(), 0);
  EXPECT_EQ(ranks::message_prefix(), "");
  EXPECT_EQ(ranks::parts_of(8), (std::pair<int, int>(0, 8)));
  EXPECT_EQ(ranks::rows_of(1001, 8), (std::pair<std::size_t, std::size_t>(0, 1001)));
  double parts[4] = {1.0, 2.0, 3.0, 4.0};
  ranks::allgather_parts(parts, 2, 2);
  EXPECT_EQ(parts[3], 4.0);
  ranks::check_same(42, "anything");  // one rank: nothing to differ from
  // The engines' view of the same (part_sums.hpp): all 8 parts here, the exchange leaves them as they are.
  const PartShare share = ranks::part_share();
  EXPECT_EQ(share.mine(8), (std::pair<int, int>(0, 8)));
  share.exchange(parts, 2, 2);
  EXPECT_EQ(parts[0], 1.0);
}

TEST(RanksSingle, OneRankUnderALauncherRuns) {
  const EnvVar size("OMPI_COMM_WORLD_SIZE", "1");
  EXPECT_FALSE(ranks::start(nullptr, nullptr));
  EXPECT_EQ(ranks::size(), 1);
}

TEST(RanksSingle, SeveralRanksUnderALauncherAreRefused) {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    SCOPED_TRACE(var);
    const EnvVar size(var, "4");
    try {
      ranks::start(nullptr, nullptr);
      FAIL() << "started as 1 of 4 ranks without MPI";
    } catch (const UsageError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("started by an MPI launcher with 4 ranks"), std::string::npos) << what;
      EXPECT_NE(what.find("built without MPI"), std::string::npos) << what;
      EXPECT_EQ(e.code(), ExitCode::kUsage);
    }
  }
}

}  // namespace
}  // namespace logreg
