// The checks of typed option values shared by every subcommand (option_values.hpp).
#include "option_values.hpp"

#include <string>

namespace logreg::cli {

void refuse_empty_values(CLI::App& app) {
  const CLI::Validator not_empty(
      [](std::string& input) -> std::string {
        if (!input.empty()) return std::string();
        return "empty value: give a value or leave the option out (an empty string never means \"not given\")";
      },
      "");
  for (CLI::App* sub : app.get_subcommands({})) {
    for (CLI::Option* opt : sub->get_options()) {
      if (opt->get_items_expected_max() == 0) continue;  // a flag takes no value
      opt->transform(not_empty);  // transform: runs before the option's own checks and conversions
    }
  }
}

}  // namespace logreg::cli
