// ShareChooser (src/cpu/share_chooser.hpp): both ways are measured first, the cheaper one is used with the
// other tried one window in kExploreEvery, one slow window does not flip the choice, a lasting slowdown
// does, and without a team nothing is shared. Window times are given, not measured.
#include <gtest/gtest.h>

#include "share_chooser.hpp"

namespace logreg::cpu {
namespace {

// Runs one window of `rows` rows that takes `seconds_per_row` times rows; returns whether it was shared.
bool Window(ShareChooser& chooser, double shared_cost, double alone_cost, int rows = 100) {
  const bool shared = chooser.start_window(rows);
  chooser.end_window_after((shared ? shared_cost : alone_cost) * rows);
  return shared;
}

TEST(ShareChooser, MeasuresBothWaysThenUsesTheCheaperAndExploresTheOther) {
  ShareChooser chooser;
  chooser.begin_call(true);
  EXPECT_TRUE(Window(chooser, 1e-6, 2e-6));   // nothing measured: shared first
  EXPECT_FALSE(Window(chooser, 1e-6, 2e-6));  // then alone
  int alone = 0;
  const int windows = 4 * ShareChooser::kExploreEvery;
  for (int w = 0; w < windows; ++w) alone += Window(chooser, 1e-6, 2e-6) ? 0 : 1;
  EXPECT_EQ(alone, 4);  // one window in kExploreEvery tries the dearer way
}

TEST(ShareChooser, OneSlowWindowDoesNotFlipTheChoice) {
  ShareChooser chooser;
  chooser.begin_call(true);
  Window(chooser, 1e-6, 2e-6);
  Window(chooser, 1e-6, 2e-6);
  ASSERT_TRUE(Window(chooser, 100e-6, 2e-6));  // shared, but this one window was 100x slower
  for (int w = 0; w < ShareChooser::kExploreEvery - 4; ++w) EXPECT_TRUE(Window(chooser, 1e-6, 2e-6)) << w;
}

TEST(ShareChooser, ALastingSlowdownOfSharingSwitchesToAlone) {
  ShareChooser chooser;
  chooser.begin_call(true);
  Window(chooser, 1e-6, 2e-6);
  Window(chooser, 1e-6, 2e-6);
  int shared_slow = 0;
  while (Window(chooser, 10e-6, 2e-6)) ASSERT_LE(++shared_slow, ShareChooser::kKept) << "still sharing";
  EXPECT_EQ(shared_slow, ShareChooser::kKept);  // all the kept shared windows were slow
  int alone = 0;
  for (int w = 0; w < 2 * ShareChooser::kExploreEvery; ++w) alone += Window(chooser, 10e-6, 2e-6) ? 0 : 1;
  EXPECT_GE(alone, 2 * ShareChooser::kExploreEvery - 2);
}

TEST(ShareChooser, WithoutATeamNothingIsShared) {
  ShareChooser chooser;
  chooser.begin_call(false);
  for (int w = 0; w < 3 * ShareChooser::kExploreEvery; ++w) EXPECT_FALSE(Window(chooser, 1e-9, 1.0));
}

}  // namespace
}  // namespace logreg::cpu
