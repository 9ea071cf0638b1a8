// Model initialisation (nn.Linear's uniform ±1/sqrt(fan_in)) and loss-head names.
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

const char* loss_head_name(LossHead head) {
  switch (head) {
    case LossHead::kSoftmax:
      return "softmax";
    case LossHead::kSigmoidSoftmax:
      return "sigmoid-softmax";
    case LossHead::kOvr:
      return "ovr";
  }
  return "?";
}

bool parse_loss_head(const std::string& s, LossHead* out) {
  for (LossHead h : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    if (s == loss_head_name(h)) {
      *out = h;
      return true;
    }
  }
  return false;
}

}  // namespace logreg
