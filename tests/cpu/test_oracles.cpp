// Independent oracles for the maths every backend shares (row_math.hpp, sgd_math.hpp): the three loss heads
// written out from their textbook definitions (no log-sum-exp, no shared code), finite differences of those
// for every gradient, and PyTorch's documented torch.optim.SGD update written out by hand. Comparing backends
// with each other cannot catch a wrong formula in the code they share; these can.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/sgd_math.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

const LossHead kHeads[] = {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr};

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// The loss of one row by definition, for moderate logits:
//   softmax:         -log(exp(z_y) / sum_c exp(z_c))
//   sigmoid-softmax: the same over a_c = sigmoid(z_c) (the PyTorch tutorial's CrossEntropyLoss(sigmoid(z)))
//   ovr:             sum_c BCE(sigmoid(z_c), [c == y])
double TextbookLoss(LossHead head, const std::vector<double>& z, int y) {
  const std::size_t C = z.size();
  if (head == LossHead::kOvr) {
    double loss = 0.0;
    for (std::size_t c = 0; c < C; ++c) {
      const double p = Sigmoid(z[c]);
      loss -= static_cast<int>(c) == y ? std::log(p) : std::log(1.0 - p);
    }
    return loss;
  }
  double sum = 0.0;
  for (std::size_t c = 0; c < C; ++c) sum += std::exp(head == LossHead::kSigmoidSoftmax ? Sigmoid(z[c]) : z[c]);
  const double top = std::exp(head == LossHead::kSigmoidSoftmax ? Sigmoid(z[static_cast<std::size_t>(y)]) : z[static_cast<std::size_t>(y)]);
  return -std::log(top / sum);
}

TEST(Oracle, EveryHeadsLossAndGradientMatchTheirDefinition) {
  Rng rng(11, 3);
  for (LossHead head : kHeads) {
    SCOPED_TRACE(loss_head_name(head));
    for (int trial = 0; trial < 20; ++trial) {
      const int C = 2 + static_cast<int>(rng.below(9));
      const int y = static_cast<int>(rng.below(static_cast<std::uint64_t>(C)));
      std::vector<double> z(static_cast<std::size_t>(C)), dz(static_cast<std::size_t>(C)), fd(static_cast<std::size_t>(C));
      for (auto& v : z) v = 8.0 * rng.unit() - 4.0;
      const double scale = 0.5;
      const double loss = row_loss_grad<double>(head, z.data(), C, y, scale, dz.data());
      EXPECT_NEAR(loss, TextbookLoss(head, z, y), 1e-12 * (1.0 + loss));
      for (std::size_t c = 0; c < z.size(); ++c) {
        const double h = 1e-5;
        std::vector<double> zp = z, zm = z;
        zp[c] += h;
        zm[c] -= h;
        fd[c] = scale * (TextbookLoss(head, zp, y) - TextbookLoss(head, zm, y)) / (2 * h);
      }
      EXPECT_TRUE(test::AllClose(fd, dz, 1e-8, 1e-6)) << "C=" << C;
    }
  }
}

// A small model and batch: x (B, D) in [0, 1] as float, labels below C.
struct Batch {
  int B = 3, D = 5, C = 4;
  std::vector<float> x;
  std::vector<std::uint8_t> y;
};

Batch MakeBatch() {
  Batch b;
  Rng rng(5, 8);
  b.x.resize(static_cast<std::size_t>(b.B * b.D));
  for (auto& v : b.x) v = pixel_to_unit<float>(static_cast<std::uint8_t>(rng.below(256)));
  b.y = {2, 0, 3};
  return b;
}

// The batch's mean textbook loss at weights w (C, D) and bias (C), in double.
double MeanLoss(LossHead head, const Batch& b, const std::vector<double>& w, const std::vector<double>& bias) {
  double total = 0.0;
  for (int i = 0; i < b.B; ++i) {
    std::vector<double> z(static_cast<std::size_t>(b.C));
    for (int c = 0; c < b.C; ++c) {
      double acc = bias[static_cast<std::size_t>(c)];
      for (int d = 0; d < b.D; ++d) acc += w[static_cast<std::size_t>(c * b.D + d)] * b.x[static_cast<std::size_t>(i * b.D + d)];
      z[static_cast<std::size_t>(c)] = acc;
    }
    total += TextbookLoss(head, z, b.y[static_cast<std::size_t>(i)]);
  }
  return total / b.B;
}

// d(mean loss)/d(every weight, then every bias) by central differences.
std::vector<double> FiniteDifferenceGradient(LossHead head, const Batch& b, const Model& m) {
  std::vector<double> w(m.weights.begin(), m.weights.end()), bias(m.bias.begin(), m.bias.end()), g;
  const double h = 1e-6;
  for (std::vector<double>* p : {&w, &bias}) {
    for (double& v : *p) {
      const double keep = v;
      v = keep + h;
      const double up = MeanLoss(head, b, w, bias);
      v = keep - h;
      const double down = MeanLoss(head, b, w, bias);
      v = keep;
      g.push_back((up - down) / (2 * h));
    }
  }
  return g;
}

TEST(Oracle, ReferenceStepGradientIsTheFiniteDifferenceOfTheBatchLoss) {
  const Batch b = MakeBatch();
  for (LossHead head : kHeads) {
    SCOPED_TRACE(loss_head_name(head));
    Model m = init_model(b.D, b.C, head, 3);
    for (float& w : m.weights) w *= 5.0f;  // logits of a few units, not all near 0 (the definitions above lose
                                             // precision past |z| ~ 15)
    const std::vector<double> want = FiniteDifferenceGradient(head, b, m);
    std::vector<double> dw(static_cast<std::size_t>(b.C * b.D)), db(static_cast<std::size_t>(b.C));
    Model copy = m;
    const Totals t = reference_sgd_step(copy, b.x.data(), b.y.data(), b.B, 0.1f, nullptr, nullptr, dw.data(), db.data());
    std::vector<double> got = dw;
    got.insert(got.end(), db.begin(), db.end());
    EXPECT_TRUE(test::AllClose(want, got, 1e-7, 1e-5));
    std::vector<double> w(m.weights.begin(), m.weights.end()), bias(m.bias.begin(), m.bias.end());
    EXPECT_NEAR(t.loss_sum / b.B, MeanLoss(head, b, w, bias), 1e-6);
  }
}

// torch.optim.SGD's documented update (dampening 0), by hand, one parameter:
//   g = grad + weight_decay * p
//   momentum: buf = g at the first step, else momentum * buf + g; g = nesterov ? g + momentum * buf : buf
//   p = p - lr * g
struct TorchSgd {
  double lr, momentum, decay;
  bool nesterov;
  double buf = 0.0;
  bool first = true;
  double step(double p, double grad) {
    double g = grad + decay * p;
    if (momentum != 0.0) {
      buf = first ? g : momentum * buf + g;
      first = false;
      g = nesterov ? g + momentum * buf : buf;
    }
    return p - lr * g;
  }
};

TEST(Oracle, SgdUpdateIsTorchsDocumentedRule) {
  struct Setting {
    double momentum, decay;
    bool nesterov;
  };
  for (const Setting& s : {Setting{0.0, 0.0, false}, Setting{0.0, 0.1, false}, Setting{0.9, 0.0, false},
                           Setting{0.9, 0.01, true}, Setting{0.5, 0.2, false}}) {
    SCOPED_TRACE("momentum " + std::to_string(s.momentum) + " decay " + std::to_string(s.decay) +
                 (s.nesterov ? " nesterov" : ""));
    const double lr = 0.3;
    TorchSgd torch{lr, s.momentum, s.decay, s.nesterov};
    float p_double = 0.75f, p_float = 0.75f, p_kernel = 0.75f;
    float v_double = 0.0f, v_float = 0.0f, v_kernel = 0.0f;
    double p_torch = 0.75;
    const double grads[] = {0.5, -1.25, 0.125, 2.0, -0.75};
    for (double grad : grads) {
      p_torch = torch.step(p_torch, grad);
      p_double = sgd_param_step<double>(p_double, grad, &v_double, lr, s.momentum, s.decay, s.nesterov);
      p_float = sgd_param_step<float>(p_float, static_cast<float>(grad), &v_float, static_cast<float>(lr),
                                      static_cast<float>(s.momentum), static_cast<float>(s.decay), s.nesterov);
      kernels::SgdStepParams params;
      params.lr = static_cast<float>(lr);
      params.momentum = static_cast<float>(s.momentum);
      params.weight_decay = static_cast<float>(s.decay);
      params.nesterov = s.nesterov;
      params.n_weights = 1;
      params.n = 1;
      const float g = static_cast<float>(grad);
      kernels::sgd_update_element(0, &p_kernel, &g, s.momentum != 0.0 ? &v_kernel : nullptr, params);
      EXPECT_NEAR(p_double, p_torch, 1e-6);
      EXPECT_NEAR(p_float, p_torch, 1e-5);
      EXPECT_NEAR(p_kernel, p_torch, 1e-5);
    }
  }
}

// Three full-batch steps of both CPU backends against the hand rule driven by finite-difference gradients:
// the gradient formula and the update (momentum, Nesterov, decay on the weights only) checked end to end.
TEST(Oracle, BackendsFollowTorchSgdOnFiniteDifferenceGradients) {
  Batch b = MakeBatch();
  ImageSet images;
  images.count = static_cast<std::uint32_t>(b.B);
  images.rows = 1;
  images.cols = static_cast<std::uint32_t>(b.D);
  Rng rng(2, 2);
  for (int k = 0; k < b.B * b.D; ++k) images.pixels.push_back(static_cast<std::uint8_t>(rng.below(256)));
  for (int k = 0; k < b.B * b.D; ++k) b.x[static_cast<std::size_t>(k)] = pixel_to_unit<float>(images.pixels[static_cast<std::size_t>(k)]);
  LabelSet labels;
  labels.labels = b.y;
  OptimizerConfig opt;
  opt.momentum = 0.9f;
  opt.nesterov = true;
  opt.weight_decay = 0.05f;
  const float lr = 0.5f;
  for (LossHead head : kHeads) {
    SCOPED_TRACE(loss_head_name(head));
    Model m = init_model(b.D, b.C, head, 9);
    for (float& w : m.weights) w *= 5.0f;
    auto ref = make_cpu_reference_backend(images, labels, m, opt);
    auto fast = make_cpu_fast_backend(images, labels, m, opt);
    std::vector<TorchSgd> torch(m.weights.size() + m.bias.size(), TorchSgd{lr, opt.momentum, opt.weight_decay, true});
    for (std::size_t j = m.weights.size(); j < torch.size(); ++j) torch[j].decay = 0.0;  // no decay on the bias
    Model hand = m;
    for (int step = 0; step < 3; ++step) {
      const std::vector<double> g = FiniteDifferenceGradient(head, b, hand);
      for (std::size_t j = 0; j < hand.weights.size(); ++j) hand.weights[j] = static_cast<float>(torch[j].step(hand.weights[j], g[j]));
      for (std::size_t c = 0; c < hand.bias.size(); ++c) {
        const std::size_t j = hand.weights.size() + c;
        hand.bias[c] = static_cast<float>(torch[j].step(hand.bias[c], g[j]));
      }
      ref->train_epoch({0, 1, 2}, b.B, lr);
      fast->train_epoch({0, 1, 2}, b.B, lr);
    }
    EXPECT_TRUE(test::AllClose(hand.weights, ref->model().weights, 1e-6, 1e-5)) << "reference weights";
    EXPECT_TRUE(test::AllClose(hand.bias, ref->model().bias, 1e-6, 1e-5)) << "reference bias";
    EXPECT_TRUE(test::AllClose(hand.weights, fast->model().weights, 1e-5, 1e-4)) << "cpu weights";
    EXPECT_TRUE(test::AllClose(hand.bias, fast->model().bias, 1e-5, 1e-4)) << "cpu bias";
  }
}

}  // namespace
}  // namespace logreg
