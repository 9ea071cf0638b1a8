// The data set's part of a run's settings record, and the settings lines `train` prints from the record.
// Not here: the record's fields (run_settings.hpp) or running the training (cmd_train.cpp).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "run_settings.hpp"
#include "logreg/data_source.hpp"
#include "logreg/dataset.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {

// The data set's record: its name, directory, whether it was chosen without --data, and each file's path
// and size in bytes (0 when it cannot be read).
nlohmann::ordered_json data_record(const DataFiles& files);

// The "Data:", file, "Model:" and "Optimizer:" lines on stdout, from the record.
void print_settings(const nlohmann::ordered_json& s, const Dataset& data);

}  // namespace logreg::cli
