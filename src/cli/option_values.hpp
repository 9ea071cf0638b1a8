// The checks every value typed on the command line goes through before CLI11 converts it: no option takes
// an empty value as "not given". Not here: the checks that depend on other options or on the data
// (train_options.cpp, the commands).
#pragma once

#include <CLI/CLI.hpp>

namespace logreg::cli {

// Adds to every option of `app`'s subcommands that takes a value (flags are left alone) a check that refuses
// an empty value, naming the option: `--save ""` is a usage error, never "no --save".
void refuse_empty_values(CLI::App& app);

}  // namespace logreg::cli
