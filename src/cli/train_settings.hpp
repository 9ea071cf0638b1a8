// The settings record of one training run: the JSON that --save stores in the model file, --metrics writes
// beside its file (FILE.json) and --resume reads back, and the settings lines `train` prints from it.
// Not here: parsing the options (train_options.hpp) or running the training (cmd_train.cpp).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "train_options.hpp"
#include "logreg/data_source.hpp"
#include "logreg/dataset.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {

// The data set's record: its name, directory, whether it was chosen without --data, and each file's path
// and size in bytes (0 when it cannot be read).
nlohmann::ordered_json data_record(const DataFiles& files);

// Every setting that shapes the run (the names from the name tables), the backend that runs it and the data.
nlohmann::ordered_json settings_record(const TrainOptions& o, const TrainConfig& cfg, const OptimizerConfig& opt,
                                       const DataFiles& files, const TrainSplit& split, const std::string& backend);

// The "Data:", file, "Model:" and "Optimizer:" lines on stdout, from the record.
void print_settings(const nlohmann::ordered_json& s, const Dataset& data);

}  // namespace logreg::cli
