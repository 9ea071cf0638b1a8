// The data record and the settings lines of a training run (train_settings.hpp).
#include "train_settings.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include "cmd_train_lbfgs.hpp"
#include "logreg/name_table.hpp"

namespace logreg::cli {

nlohmann::ordered_json data_record(const DataFiles& files) {
  nlohmann::ordered_json d;
  d["name"] = files.name;
  d["dir"] = files.dir;
  d["chosen_by_default"] = files.chosen_by_default;  // no --data: ./data or Debian's Fashion-MNIST
  for (const std::string& p : {files.train_images, files.train_labels, files.test_images, files.test_labels}) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(p, ec);
    d["files"].push_back({{"path", p}, {"bytes", ec ? 0 : bytes}});
  }
  return d;
}

void print_settings(const nlohmann::ordered_json& s, const Dataset& data) {
  std::printf("Data: %s (%s), %zu training rows, %u validation rows, %u test rows, %d classes, %ux%u pixels\n",
              data.name.c_str(), data.dir.c_str(), s["train_rows"].get<std::size_t>(), s["val_rows"].get<unsigned>(),
              data.test_images.count, data.num_classes, data.train_images.rows, data.train_images.cols);
  for (const auto& f : s["data"]["files"]) {
    std::printf("  %s (%llu bytes)\n", f["path"].get<std::string>().c_str(),
                static_cast<unsigned long long>(f["bytes"].get<std::uint64_t>()));
  }
  std::printf("Model: Linear(%zu -> %d), loss %s, seed %llu; backend %s\n", data.train_images.dim(), data.num_classes,
              s["loss"].get<std::string>().c_str(), static_cast<unsigned long long>(s["seed"].get<std::uint64_t>()),
              s["backend"].get<std::string>().c_str());
  const std::string solver = s.value("solver", std::string());
  if (solver == "lbfgs" || solver == "newton-cg") {
    std::printf("Optimizer: %s, C %s%s, tol %g, max-iter %d, test accuracy every %d iterations\n",
                solver == "lbfgs" ? "L-BFGS (libLBFGS, full batch)" : "Newton-CG (trust region, full batch)",
                s["C"].get<std::string>().c_str(), penalty_text(s).c_str(), s["tol"].get<double>(),
                s["max_iter"].get<int>(), s["eval_every"].get<int>());
    std::fflush(stdout);
    return;
  }
  std::printf("Optimizer: SGD lr %g (%s schedule), momentum %g%s, weight decay %g, batch %d, epochs %d..%d\n",
              s["lr"].get<double>(), s["lr_schedule"].get<std::string>().c_str(), s["momentum"].get<double>(),
              s["nesterov"].get<bool>() ? " (Nesterov)" : "", s["weight_decay"].get<double>(), s["batch_size"].get<int>(),
              s["first_epoch"].get<int>(), s["epochs"].get<int>());
  std::fflush(stdout);
}

}  // namespace logreg::cli
