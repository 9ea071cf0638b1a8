// Model initialisation (nn.Linear's uniform ±1/sqrt(fan_in)). The loss heads' names are a table in model.hpp.
#include "logreg/model.hpp"

#include <cmath>

#include "logreg/rng.hpp"

namespace logreg {

Model init_model(int input_dim, int num_classes, LossHead head, std::uint64_t seed) {
  Model m;
  m.input_dim = input_dim;
  m.num_classes = num_classes;
  m.head = head;
  m.weights.resize(static_cast<std::size_t>(input_dim) * num_classes);
  m.bias.resize(static_cast<std::size_t>(num_classes));
  const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(input_dim)));
  Rng rng(seed, 0);
  for (auto& w : m.weights) w = rng.uniform(-bound, bound);
  for (auto& b : m.bias) b = rng.uniform(-bound, bound);
  return m;
}

}  // namespace logreg
