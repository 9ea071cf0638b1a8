// The CUDA step checked without a GPU: the kernel bodies of kernels/step_bodies.hpp run in loops over
// every index, with the GEMMs done by cblas_sgemm on the exact gemm_plan.hpp arguments, and the result is
// compared with reference_sgd_step for every loss head. Also the host side of the pinned batch ring
// (src/cuda/batch_ring.hpp): gather order and slot bookkeeping; and the device-resident path's
// gather + convert body, its batch cursor and the residency choice.
#include <gtest/gtest.h>

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "batch_ring.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/gemm_plan.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/launch_sizes.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "logreg/maths/step_state.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

using kernels::RowOutcome;
using test::AllClose;

const LossHead kHeads[] = {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr};

CBLAS_TRANSPOSE to_cblas(GemmOp op) { return op == GemmOp::kT ? CblasTrans : CblasNoTrans; }

// The backend's cublasSgemm call (alpha 1, beta 0), on the CPU.
void column_major_sgemm(const GemmArgs& g, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasColMajor, to_cblas(g.transa), to_cblas(g.transb), g.m, g.n, g.k, 1.0f, a, g.lda, b, g.ldb,
              0.0f, c, g.ldc);
}

// ---- One training step, kernel by kernel -----------------------------------------------------------

struct StepCase {
  LossHead head;
  int batch;
};

void PrintTo(const StepCase& c, std::ostream* os) { *os << loss_head_name(c.head) << ", B=" << c.batch; }

class KernelBodies : public ::testing::TestWithParam<StepCase> {};

TEST_P(KernelBodies, SimulatedStepMatchesReferenceSgdStep) {
  const LossHead head = GetParam().head;
  const int B = GetParam().batch;
  const int D = 784;
  const int C = 10;
  const float lr = 0.5f;
  const auto n_rows = static_cast<std::uint32_t>(B);
  const ImageSet images = test::RandomImages(n_rows, 28, 28, 300 + n_rows);
  const LabelSet labels = test::RandomLabels(n_rows, C, 400 + n_rows);
  const Model initial = init_model(D, C, head, 11);
  const std::size_t cd = static_cast<std::size_t>(C) * D;

  // The device's parameter block: weights (C, D) row-major, then the bias.
  std::vector<float> params(cd + C);
  std::copy(initial.weights.begin(), initial.weights.end(), params.begin());
  std::copy(initial.bias.begin(), initial.bias.end(), params.begin() + static_cast<std::ptrdiff_t>(cd));
  std::vector<float> grads(params.size(), 0.0f);
  const float* bias = params.data() + cd;

  // 1. convert_pixels_kernel
  std::vector<float> x(static_cast<std::size_t>(B) * D);
  for (std::size_t k = 0; k < x.size(); ++k) kernels::convert_pixel_element(k, images.pixels.data(), x.data());
  for (std::size_t k = 0; k < x.size(); ++k) {
    ASSERT_EQ(x[k], static_cast<float>(images.pixels[k]) / 255.0f) << "pixel " << k;
  }

  // 2. forward GEMM
  std::vector<float> z(static_cast<std::size_t>(B) * C);
  column_major_sgemm(forward_logits_gemm(B, D, C), params.data(), x.data(), z.data());

  // 3. loss_grad_kernel, row part (in place, as the kernel does)
  std::vector<float> dz(z.size());
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  for (int i = 0; i < B; ++i) {
    const RowOutcome r = kernels::loss_grad_row(i, head, z.data(), bias, labels.labels.data(), C,
                                                1.0f / static_cast<float>(B), z.data(), dz.data());
    loss_sum += r.loss;
    correct += r.correct;
  }
  // 3b. loss_grad_kernel, bias-gradient reduction
  const int groups = kernels::bias_grad_groups(kernels::kLossThreads, C);
  std::vector<double> partials(kernels::kLossThreads);
  for (int t = 0; t < groups * C; ++t) partials[t] = kernels::bias_grad_partial(t, dz.data(), B, C, groups);
  for (int c = 0; c < C; ++c) grads[cd + c] = kernels::bias_grad_combine(c, partials.data(), C, groups);

  // 4. backward GEMM into the front of the gradient block
  column_major_sgemm(backward_weights_gemm(B, D, C), x.data(), dz.data(), grads.data());
  const std::vector<float> dw(grads.begin(), grads.begin() + static_cast<std::ptrdiff_t>(cd));
  const std::vector<float> db(grads.begin() + static_cast<std::ptrdiff_t>(cd), grads.end());

  // 5. sgd_update_kernel, including indices past the end (the grid is rounded up)
  for (std::size_t j = 0; j < params.size() + 7; ++j) {
    kernels::SgdStepParams p;
    p.lr = lr;
    p.n_weights = cd;
    p.n = params.size();
    kernels::sgd_update_element(j, params.data(), grads.data(), nullptr, p);
  }

  // The reference on the same rows.
  Model ref = initial;
  std::vector<double> ref_z(z.size()), ref_dz(z.size()), ref_dw(cd), ref_db(static_cast<std::size_t>(C));
  const Totals want = reference_sgd_step(ref, x.data(), labels.labels.data(), B, lr, ref_z.data(), ref_dz.data(),
                                         ref_dw.data(), ref_db.data());

  EXPECT_TRUE(AllClose(ref_z, z, 1e-5, 1e-4)) << "logits";
  EXPECT_TRUE(AllClose(ref_dz, dz, 1e-5 / B, 1e-4)) << "dZ";
  EXPECT_TRUE(AllClose(ref_dw, dw, 1e-5, 1e-4)) << "dW";
  EXPECT_TRUE(AllClose(ref_db, db, 1e-5, 1e-4)) << "db";
  const std::vector<float> w_after(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(cd));
  const std::vector<float> b_after(params.begin() + static_cast<std::ptrdiff_t>(cd), params.end());
  EXPECT_TRUE(AllClose(ref.weights, w_after, 1e-5, 1e-4)) << "updated W";
  EXPECT_TRUE(AllClose(ref.bias, b_after, 1e-5, 1e-4)) << "updated b";
  EXPECT_NEAR(loss_sum, want.loss_sum, 1e-5 + 1e-5 * std::fabs(want.loss_sum));
  EXPECT_EQ(correct, want.correct);
}

std::vector<StepCase> all_step_cases() {
  std::vector<StepCase> cases;
  for (LossHead head : kHeads) {
    for (int batch : {1, 32, 33}) cases.push_back({head, batch});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(KernelBodies, KernelBodies, ::testing::ValuesIn(all_step_cases()),
                         [](const ::testing::TestParamInfo<StepCase>& info) {
                           std::string head = loss_head_name(info.param.head);
                           for (char& ch : head) ch = ch == '-' ? '_' : ch;
                           return head + "_B" + std::to_string(info.param.batch);
                         });

// Evaluation calls the row body with dz = nullptr: same logits, loss and prediction, no gradient.
TEST(KernelBodiesRow, EvaluationRowWritesNoGradientAndMayNotAlias) {
  const int B = 5;
  const int C = 7;
  Rng rng(12, 1);
  std::vector<float> logits(static_cast<std::size_t>(B) * C), bias(static_cast<std::size_t>(C));
  for (auto& v : logits) v = rng.uniform(-4.0f, 4.0f);
  for (auto& v : bias) v = rng.uniform(-1.0f, 1.0f);
  const std::vector<std::uint8_t> labels = {0, 6, 3, 3, 1};
  for (LossHead head : kHeads) {
    std::vector<float> in_place = logits, dz(logits.size(), 0.0f), separate(logits.size(), 0.0f);
    for (int i = 0; i < B; ++i) {
      const RowOutcome a = kernels::loss_grad_row(i, head, in_place.data(), bias.data(), labels.data(), C, 0.2f,
                                                  in_place.data(), dz.data());
      const RowOutcome b = kernels::loss_grad_row(i, head, logits.data(), bias.data(), labels.data(), C, 0.2f,
                                                  separate.data(), nullptr);
      EXPECT_EQ(a.loss, b.loss) << loss_head_name(head) << " row " << i;
      EXPECT_EQ(a.correct, b.correct) << loss_head_name(head) << " row " << i;
    }
    EXPECT_EQ(in_place, separate) << loss_head_name(head);
    for (std::size_t k = 0; k < logits.size(); ++k) {
      EXPECT_EQ(separate[k], logits[k] + bias[k % C]);
    }
  }
}

// The two-stage bias reduction equals the plain column sum for every class count up to kMaxClasses.
TEST(KernelBodiesRow, BiasGradientReductionSumsEveryRowOnce) {
  for (int C : {1, 3, 10, 128, 200, kernels::kMaxClasses}) {
    for (int B : {1, 33, 300}) {
      Rng rng(static_cast<std::uint64_t>(C), static_cast<std::uint64_t>(B));
      std::vector<float> dz(static_cast<std::size_t>(B) * C);
      for (auto& v : dz) v = rng.uniform(-1.0f, 1.0f);
      const int groups = kernels::bias_grad_groups(kernels::kLossThreads, C);
      ASSERT_LE(groups * C, kernels::kLossThreads) << "the partials must fit the kernel's threads, C=" << C;
      std::vector<double> partials(kernels::kLossThreads, 0.0);
      for (int t = 0; t < groups * C; ++t) partials[t] = kernels::bias_grad_partial(t, dz.data(), B, C, groups);
      std::vector<double> want(static_cast<std::size_t>(C), 0.0);
      std::vector<float> got(static_cast<std::size_t>(C));
      for (int i = 0; i < B; ++i) {
        for (int c = 0; c < C; ++c) want[c] += dz[static_cast<std::size_t>(i) * C + c];
      }
      for (int c = 0; c < C; ++c) got[c] = kernels::bias_grad_combine(c, partials.data(), C, groups);
      EXPECT_TRUE(AllClose(want, got, 1e-6, 1e-6)) << "C=" << C << " B=" << B;
    }
  }
}

TEST(KernelBodiesRow, SgdUpdateIsOneRoundedStepAndRespectsBound) {
  std::vector<float> w = {1.0f, -2.0f, 0.5f, 7.0f};
  const std::vector<float> dw = {0.1f, 0.2f, -0.3f, 100.0f};
  kernels::SgdStepParams p;
  p.lr = 0.5f;
  p.n_weights = 2;
  p.n = 3;
  for (std::size_t j = 0; j < w.size(); ++j) kernels::sgd_update_element(j, w.data(), dw.data(), nullptr, p);
  EXPECT_FLOAT_EQ(w[0], 0.95f);
  EXPECT_FLOAT_EQ(w[1], -2.1f);
  EXPECT_FLOAT_EQ(w[2], 0.65f);
  EXPECT_EQ(w[3], 7.0f) << "index n is past the end and must not be touched";
}

// The update kernel's body with momentum, Nesterov and weight decay against the reference's update of
// the same step (float arithmetic against double, same formula from sgd_math.hpp).
TEST(KernelBodiesRow, SgdUpdateWithMomentumMatchesReference) {
  const int D = 12, C = 4, B = 5;
  Model m = init_model(D, C, LossHead::kSoftmax, 31);
  std::vector<float> x(static_cast<std::size_t>(B) * D);
  Rng rng(5, 3);
  for (auto& v : x) v = static_cast<float>(rng.unit());
  const std::uint8_t labels[B] = {0, 3, 1, 1, 2};
  const std::size_t n = static_cast<std::size_t>(C) * D + C;
  std::vector<float> v0(n);
  for (auto& v : v0) v = static_cast<float>(rng.unit() - 0.5);
  for (bool nesterov : {false, true}) {
    OptimizerConfig opt;
    opt.momentum = 0.9f;
    opt.weight_decay = 0.05f;
    opt.nesterov = nesterov;
    Model ref = m;
    std::vector<float> ref_v = v0;
    std::vector<double> dw(static_cast<std::size_t>(C) * D), db(static_cast<std::size_t>(C));
    reference_sgd_step(ref, x.data(), labels, B, 0.3f, nullptr, nullptr, dw.data(), db.data(), opt, ref_v.data());

    std::vector<float> params(m.weights), grads(dw.begin(), dw.end()), vel = v0;
    params.insert(params.end(), m.bias.begin(), m.bias.end());
    grads.insert(grads.end(), db.begin(), db.end());
    kernels::SgdStepParams p;
    p.lr = 0.3f;
    p.momentum = opt.momentum;
    p.weight_decay = opt.weight_decay;
    p.nesterov = nesterov;
    p.n_weights = static_cast<std::size_t>(C) * D;
    p.n = n;
    for (std::size_t j = 0; j < n; ++j) kernels::sgd_update_element(j, params.data(), grads.data(), vel.data(), p);
    std::vector<float> ref_params(ref.weights);
    ref_params.insert(ref_params.end(), ref.bias.begin(), ref.bias.end());
    EXPECT_TRUE(AllClose(ref_params, params, 1e-6, 1e-5)) << "nesterov " << nesterov;
    EXPECT_TRUE(AllClose(ref_v, vel, 1e-6, 1e-5)) << "nesterov " << nesterov;
  }
}

// ---- The pinned batch ring's host side --------------------------------------------------------------

TEST(BatchRing, GatherFollowsOrderIncludingPartialLastBatch) {
  const std::uint32_t n = 10;
  const ImageSet images = test::RandomImages(n, 4, 3, 501);
  const LabelSet labels = test::RandomLabels(n, 10, 502);
  const std::vector<std::uint32_t> order = epoch_order(503, 1, n);
  const int batch = 4;
  const std::size_t dim = images.dim();
  ASSERT_EQ(cuda::batch_count(order.size(), batch), 3);
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(batch) * dim, 0xAB), y(static_cast<std::size_t>(batch), 0xAB);
  for (std::int64_t b = 0; b < 3; ++b) {
    const std::size_t start = static_cast<std::size_t>(b) * batch;
    const int rows = static_cast<int>(std::min<std::size_t>(batch, n - start));
    EXPECT_EQ(rows, b < 2 ? 4 : 2);
    cuda::gather_batch(images, labels, order.data(), start, rows, pixels.data(), y.data());
    for (int j = 0; j < rows; ++j) {
      const std::uint32_t row = order[start + static_cast<std::size_t>(j)];
      EXPECT_EQ(0, std::memcmp(pixels.data() + static_cast<std::size_t>(j) * dim, images.image(row), dim))
          << "batch " << b << " row " << j;
      EXPECT_EQ(y[static_cast<std::size_t>(j)], labels.labels[row]) << "batch " << b << " row " << j;
    }
  }
}

TEST(BatchRing, GatherRejectsRowOutsideTheSet) {
  const ImageSet images = test::RandomImages(3, 2, 2, 511);
  const LabelSet labels = test::RandomLabels(3, 2, 512);
  const std::vector<std::uint32_t> order = {0, 3};
  std::vector<std::uint8_t> pixels(8), y(2);
  EXPECT_THROW(cuda::gather_batch(images, labels, order.data(), 0, 2, pixels.data(), y.data()), Error);
}

TEST(BatchRing, BatchCountRoundsUp) {
  EXPECT_EQ(cuda::batch_count(0, 4), 0);
  EXPECT_EQ(cuda::batch_count(8, 4), 2);
  EXPECT_EQ(cuda::batch_count(9, 4), 3);
  EXPECT_EQ(cuda::batch_count(1, 1000), 1);
  EXPECT_EQ(cuda::batch_count(60000, 32), 1875);
}

TEST(BatchRing, ScheduleCyclesSlotsAndNamesTheBatchToWaitFor) {
  const cuda::BatchRingSchedule ring(3);
  EXPECT_EQ(ring.slots(), 3);
  const int slots[] = {0, 1, 2, 0, 1, 2, 0};
  const std::int64_t wait_for[] = {-1, -1, -1, 0, 1, 2, 3};
  for (int k = 0; k < 7; ++k) {
    EXPECT_EQ(ring.slot_of(k), slots[k]) << "batch " << k;
    EXPECT_EQ(ring.must_complete_before_reuse(k), wait_for[k]) << "batch " << k;
  }
  EXPECT_THROW(cuda::BatchRingSchedule(1), UsageError);
  EXPECT_THROW(cuda::BatchRingSchedule(0), UsageError);
}

// Played forward, the batch to wait for is always the previous user of the slot, and no slot is used by
// two batches in flight at once (at most `slots` consecutive batches in flight).
TEST(BatchRing, ScheduleWaitsForThePreviousUserOfTheSlot) {
  for (int slots = 2; slots <= 5; ++slots) {
    const cuda::BatchRingSchedule ring(slots);
    std::vector<std::int64_t> last_user(static_cast<std::size_t>(slots), -1);
    for (std::int64_t k = 0; k < 50; ++k) {
      const int s = ring.slot_of(k);
      ASSERT_GE(s, 0);
      ASSERT_LT(s, slots);
      EXPECT_EQ(ring.must_complete_before_reuse(k), last_user[static_cast<std::size_t>(s)])
          << "slots " << slots << " batch " << k;
      for (std::int64_t in_flight = std::max<std::int64_t>(0, k - slots + 1); in_flight < k; ++in_flight) {
        EXPECT_NE(ring.slot_of(in_flight), s) << "slots " << slots << ": batches " << in_flight << " and " << k;
      }
      last_user[static_cast<std::size_t>(s)] = k;
    }
  }
}

// ---- The device-resident path: gather + convert on the device, the batch cursor, the residency ------

// gather_convert_element over every index of every batch of an epoch (the last one partial), and past the
// end, against the streamed path's gather_batch + convert_pixel_element: the same floats, bit for bit.
TEST(GatherConvert, EveryIndexMatchesGatherBatchThenConvertIncludingPartialBatch) {
  const std::uint32_t n = 10;
  const ImageSet images = test::RandomImages(n, 4, 3, 601);
  const LabelSet labels = test::RandomLabels(n, 10, 602);
  const std::vector<std::uint32_t> order = epoch_order(603, 1, n);
  const int batch = 4;
  const std::size_t dim = images.dim();
  const std::size_t slack = 9;  // indices past rows * D that the kernel's rounded-up grid also visits
  for (std::int64_t b = 0; b < cuda::batch_count(order.size(), batch); ++b) {
    const std::size_t start = static_cast<std::size_t>(b) * batch;
    const int rows = static_cast<int>(std::min<std::size_t>(batch, n - start));
    std::vector<std::uint8_t> want_pixels(static_cast<std::size_t>(rows) * dim), want_y(static_cast<std::size_t>(rows));
    cuda::gather_batch(images, labels, order.data(), start, rows, want_pixels.data(), want_y.data());
    std::vector<float> want_x(want_pixels.size());
    for (std::size_t k = 0; k < want_x.size(); ++k) kernels::convert_pixel_element(k, want_pixels.data(), want_x.data());

    const float poison = -7.0f;
    std::vector<float> x(static_cast<std::size_t>(batch) * dim + slack, poison);
    std::vector<std::uint8_t> y(static_cast<std::size_t>(batch) + slack, 0xAB);
    for (std::size_t k = 0; k < x.size(); ++k) {
      kernels::gather_convert_element(k, images.pixels.data(), labels.labels.data(), order.data(), start,
                                      static_cast<std::size_t>(rows), dim, x.data(), y.data());
    }
    for (std::size_t k = 0; k < want_x.size(); ++k) {
      ASSERT_EQ(0, std::memcmp(&x[k], &want_x[k], sizeof(float))) << "batch " << b << " element " << k;
    }
    for (std::size_t k = want_x.size(); k < x.size(); ++k) {
      ASSERT_EQ(x[k], poison) << "batch " << b << ": element " << k << " is past rows * D and was written";
    }
    for (int j = 0; j < rows; ++j) EXPECT_EQ(y[static_cast<std::size_t>(j)], want_y[static_cast<std::size_t>(j)]) << "batch " << b;
    for (std::size_t j = static_cast<std::size_t>(rows); j < y.size(); ++j) {
      EXPECT_EQ(y[j], 0xAB) << "batch " << b << ": label " << j << " is past the batch and was written";
    }
  }
}

// The step-state protocol of one epoch as the captured graph replays it: every step gathers at
// state.start, the update kernel's epilogue advances it by the step's rows (run over every update index,
// only j == 0 moves it); batches laid end to end give the epoch's order, the partial last one included.
TEST(GatherConvert, StepStateCursorWalksTheEpochOrder) {
  const std::uint32_t n = 1000;
  const int D = 784;
  const ImageSet images = test::RandomImages(n, 28, 28, 611);
  const LabelSet labels = test::RandomLabels(n, 10, 612);
  const std::vector<std::uint32_t> order = epoch_order(613, 2, n);
  for (int batch : {1, 32, 33, 1000, 1024}) {
    kernels::DeviceStepState state{};
    state.start = 0;
    state.lr = 0.25f;
    std::vector<float> seen_x;
    std::vector<std::uint8_t> seen_y;
    const std::size_t update_threads = static_cast<std::size_t>(10) * D + 10;
    for (std::int64_t b = 0; b < cuda::batch_count(order.size(), batch); ++b) {
      const std::size_t start = static_cast<std::size_t>(state.start);
      ASSERT_EQ(start, static_cast<std::size_t>(b) * batch) << "batch size " << batch;
      const std::size_t rows = std::min<std::size_t>(static_cast<std::size_t>(batch), n - start);
      std::vector<float> x(rows * D);
      std::vector<std::uint8_t> y(rows);
      for (std::size_t k = 0; k < x.size(); ++k) {
        kernels::gather_convert_element(k, images.pixels.data(), labels.labels.data(), order.data(), start, rows,
                                        static_cast<std::size_t>(D), x.data(), y.data());
      }
      seen_x.insert(seen_x.end(), x.begin(), x.end());
      seen_y.insert(seen_y.end(), y.begin(), y.end());
      for (std::size_t j = 0; j < update_threads; ++j) kernels::advance_step_state(j, &state, rows);
      EXPECT_EQ(state.lr, 0.25f);
    }
    EXPECT_EQ(state.start, n) << "batch size " << batch;
    ASSERT_EQ(seen_x.size(), static_cast<std::size_t>(n) * D);
    for (std::uint32_t j = 0; j < n; ++j) {
      const std::uint8_t* img = images.image(order[j]);
      for (int d = 0; d < D; ++d) {
        ASSERT_EQ(seen_x[static_cast<std::size_t>(j) * D + d], pixel_to_unit<float>(img[d]))
            << "batch size " << batch << ": row " << j << " pixel " << d;
      }
      ASSERT_EQ(seen_y[j], labels.labels[order[j]]) << "batch size " << batch << ": row " << j;
    }
  }
}

// The test hook of the device-resident path hands back round(x * 255) for the gathered floats: exact for
// every uint8 value.
TEST(GatherConvert, PixelRoundTripThroughFloatIsExact) {
  for (int p = 0; p < 256; ++p) {
    const float x = pixel_to_unit<float>(static_cast<std::uint8_t>(p));
    EXPECT_EQ(std::lround(static_cast<double>(x) * 255.0), p);
  }
}

TEST(Residency, NamesParseBack) {
  for (Residency r : {Residency::kAuto, Residency::kDevice, Residency::kStream}) {
    Residency parsed = Residency::kAuto;
    ASSERT_TRUE(parse_residency(residency_name(r), &parsed)) << residency_name(r);
    EXPECT_EQ(parsed, r);
  }
  Residency untouched = Residency::kStream;
  EXPECT_FALSE(parse_residency("gpu", &untouched));
  EXPECT_EQ(untouched, Residency::kStream);
}

TEST(Residency, AutoPicksDeviceWhenTheSetFitsInHalfTheFreeMemory) {
  // MNIST: 60000 x 784 pixels, labels, the order, 32 MiB of cuBLAS workspace and the L-BFGS objective's
  // buffers (its row list, the parameters, the 8 parts' sums and 8 x 16 row blocks' slots of 7,851 doubles),
  // about 88 MB.
  const std::size_t mnist = resident_bytes(60000, 784, 10, std::size_t{32} << 20);
  const std::size_t objective = 60000u * 4u + (7850u + 8u * 7851u + 128u * 7851u) * 8u;
  EXPECT_EQ(objective_device_bytes(60000, 784, 10), objective);
  EXPECT_EQ(mnist, 60000u * 784u + 60000u + (60000u + 4u) * 4u + (std::size_t{32} << 20) + objective);
  // Small sets get fewer row blocks, at least kObjectiveMinBlockRows rows each.
  EXPECT_EQ(kernels::objective_row_blocks(1), 1);
  EXPECT_EQ(kernels::objective_row_blocks(64), 1);
  EXPECT_EQ(kernels::objective_row_blocks(65), 2);
  EXPECT_EQ(kernels::objective_row_blocks(60000), kernels::kObjectiveRowBlocks);
  // Each of the objective's 8 row parts gets an even share of them, rounded down, at least one.
  EXPECT_EQ(kernels::objective_blocks_per_part(60000), 16);
  EXPECT_EQ(kernels::objective_blocks_per_part(1000), 2);  // 16 blocks over 8 parts
  EXPECT_EQ(kernels::objective_blocks_per_part(300), 1);   // 5 blocks over 8 parts
  EXPECT_EQ(kernels::objective_blocks_per_part(3), 1);     // 3 parts of a row each
  EXPECT_EQ(resolve_residency(Residency::kAuto, mnist, std::size_t{80} << 30), Residency::kDevice);
  EXPECT_EQ(resolve_residency(Residency::kAuto, mnist, 2 * mnist), Residency::kDevice);
  EXPECT_EQ(resolve_residency(Residency::kAuto, mnist, 2 * mnist - 2), Residency::kStream);
  EXPECT_EQ(resolve_residency(Residency::kAuto, mnist, 0), Residency::kStream);
  // An explicit choice is kept whatever the free memory.
  EXPECT_EQ(resolve_residency(Residency::kDevice, mnist, 0), Residency::kDevice);
  EXPECT_EQ(resolve_residency(Residency::kStream, mnist, std::size_t{80} << 30), Residency::kStream);
}

}  // namespace
}  // namespace logreg
