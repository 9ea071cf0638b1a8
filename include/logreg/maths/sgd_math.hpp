// The SGD update of one parameter, written once for the CPU reference and the CUDA update kernel:
// PyTorch's torch.optim.SGD (dampening 0) with momentum, Nesterov and L2 weight decay.
#pragma once

#include "logreg/maths/row_math.hpp"  // LOGREG_HD

namespace logreg {

struct OptimizerConfig {
  float momentum = 0.0f;      // 0 = plain SGD (no velocity kept)
  bool nesterov = false;
  float weight_decay = 0.0f;  // L2, applied to the weights only, never to the bias
};

// One parameter: g = grad + decay * w; with momentum v <- momentum * v + g and
// g <- (nesterov ? g + momentum * v : v); returns w - lr * g. T is the arithmetic type (double in the
// reference, float on the GPU); parameters and velocities are stored as float.
// velocity may be nullptr when momentum == 0.
template <class T>
LOGREG_HD inline float sgd_param_step(float w, T grad, float* velocity, T lr, T momentum, T decay, bool nesterov) {
  T g = grad + decay * static_cast<T>(w);
  if (momentum != T(0)) {
    const T v = momentum * static_cast<T>(*velocity) + g;
    *velocity = static_cast<float>(v);
    g = nesterov ? g + momentum * v : v;
  }
  return static_cast<float>(static_cast<T>(w) - lr * g);
}

}  // namespace logreg
