// The fast CPU backend (`--device cpu`): float32 mini-batch SGD straight from the uint8 pixels, the order of
// a training step's work over the SIMD loops (simd_kernels.hpp) and the thread team (thread_team.hpp). The
// loss rows, the bias gradient and the update are the CUDA kernels' bodies (step_bodies.hpp); not here: the
// loops themselves, the host loop (shuffles, epochs, reporting). Measurements: BENCHMARKS.md, "CPU backend
// design notes".
//
// The pixel columns are cut into kSlices = 2 fixed slices, and a window of steps runs either on the
// calling thread alone or on two participants at once (ThreadTeam::run_together), participant s owning
// slice s of W and half of each batch's rows. Per step k (run_steps):
//   1. on its slice: finishes step k-1, dW[:, s] = (dz/255)ᵀ · P[:, s] over the batch's rows in order (P the
//      uint8 pixels of the rows, read in place: no gather copy), each block of weights then updated at once
//      by sgd_param_step while in L1 (momentum, Nesterov, decay); then sums batch k's logits over slice s,
//      Zs = P[:, s] · W[:, s]ᵀ (10 class accumulators in registers, pixels converted to float in the loop,
//      rows 16 ahead prefetched: a shuffled batch's rows lie scattered over the training set);
//   2. barrier; on its rows: adds the slices' sums (in slice order), divides by 255 once per logit (the
//      ToTensor() scaling, folded), runs loss_grad_row (bias, loss, dz, correct) and keeps dz/255;
//   3. barrier; participant 0 updates the bias (bias_grad_partial/combine, sgd_update_element) and adds
//      the rows' losses in row order.
// Two barriers per step (StepBarrier, one cache line each way) and no serial phase: each thread keeps its
// half of W, reads only its half of each row and does half of the loss rows.
//
// Determinism: every output element is summed by one part in a fixed order, and which thread runs a part
// changes nothing, so results do not depend on the thread count and reruns are bit-identical. They can
// differ in the last bits between SIMD levels (lane count, FMA).
//
// No OpenBLAS here: at batch 32 the GEMMs are 32 x 784 x 10, and its call overhead plus a float copy of the
// batch cost more than the arithmetic. Sharing a window is timed (ShareChooser), since a participant
// descheduled by another busy process would stall every step of it.
#include "logreg/cpu_fast.hpp"

#include <algorithm>
#include <memory>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aligned_floats.hpp"
#include "logreg/errors.hpp"
#include "logreg/thread_team.hpp"
#include "full_batch_objective.hpp"
#include "share_chooser.hpp"
#include "step_barrier.hpp"
#include "simd_kernels.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg {
namespace {

using cpu::AlignedFloats;
using cpu::kClassBlock;
using cpu::kPadLanes;

constexpr int kMinRowsPerThread = 8;  // below this, waking another thread costs more than it saves
constexpr int kEvalRowsPerPart = 64;
constexpr int kSlices = 2;         // column slices of a training step (fixed: results do not depend on threads)
static_assert(cpu::kSharedTeamMax <= kSlices, "threads = 0: one per slice at most");
static_assert(kSlices <= cpu::StepBarrier::kMaxParticipants, "one participant per slice");

// ---------------------------------------------------------------------------------------------------
class CpuFastBackend final : public TrainerBackend {
 public:
  CpuFastBackend(const ImageSet& images, const LabelSet& labels, const Model& initial, const OptimizerConfig& optimizer,
                 const std::vector<float>& velocity, int threads, CpuSimd simd)
      : images_(images),
        labels_(labels),
        head_(initial.head),
        C_(initial.num_classes),
        D_(initial.input_dim),
        Cpad_((initial.num_classes + kClassBlock - 1) / kClassBlock * kClassBlock),
        Dpad_((initial.input_dim + kPadLanes - 1) / kPadLanes * kPadLanes),
        optimizer_(optimizer),
        simd_(cpu::resolve_simd(simd)),
        kernels_(cpu::simd_kernels_for(simd_)),
        own_team_(threads > 0 ? std::make_unique<cpu::ThreadTeam>(threads) : nullptr),
        team_(own_team_ ? *own_team_ : cpu::shared_thread_team()) {
    check_set_fits_model(initial, images_, labels_);
    if (C_ < 1 || C_ > kernels::kMaxClasses || D_ < 1 ||
        initial.weights.size() != static_cast<std::size_t>(C_) * static_cast<std::size_t>(D_) ||
        initial.bias.size() != static_cast<std::size_t>(C_)) {
      throw DataError("", "model parameters do not match Linear(" + std::to_string(D_) + " -> " + std::to_string(C_) + ")");
    }
    const std::size_t state = initial.weights.size() + initial.bias.size();
    if (!velocity.empty() && velocity.size() != state) {
      throw DataError("", "optimizer state has " + std::to_string(velocity.size()) + " values, the model needs " +
                              std::to_string(state));
    }
    const std::size_t padded = static_cast<std::size_t>(Cpad_) * static_cast<std::size_t>(Dpad_);
    w_ = AlignedFloats(padded);
    dw_ = AlignedFloats(padded);
    bias_ = initial.bias;
    scatter_padded(initial.weights.data(), w_.data());
    if (optimizer_.momentum != 0.0f) {
      vw_ = AlignedFloats(padded);
      vb_.assign(static_cast<std::size_t>(C_), 0.0f);
      if (!velocity.empty()) {
        scatter_padded(velocity.data(), vw_.data());
        std::copy(velocity.end() - C_, velocity.end(), vb_.begin());
      }
    }
    const int chunks = Dpad_ / kernels_.lanes;
    // The first slice gets the odd chunk: the calling thread usually claims it, and a woken worker starts later.
    for (int s = 0; s <= kSlices; ++s) slice_chunk_[s] = chunks - cpu::split_point(chunks, kSlices - s, kSlices);
  }

  std::string name() const override { return cpu::fast_engine_name(simd_, team_.size()); }

  // The steps run in windows of about ShareChooser::kWindowRows rows, each either on one thread or on
  // kSlices participants at once (run_steps); the last step's update is applied before returning, so the
  // model is complete between calls.
  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch_size, float lr) override {
    if (batch_size < 1) throw UsageError("batch size must be at least 1, got " + std::to_string(batch_size));
    const std::size_t total = order.size();
    rows_.resize(total);
    y_.resize(total);
    for (std::size_t i = 0; i < total; ++i) {
      const std::uint32_t row = order[i];
      if (row >= images_.count) {
        throw DataError(images_.path, "row " + std::to_string(row) + " is past the " + std::to_string(images_.count) +
                                          " training images");
      }
      rows_[i] = images_.image(row);
      y_[i] = labels_.labels[row];
    }
    if (total == 0) return {};
    if (total > static_cast<std::size_t>(INT32_MAX)) throw UsageError("more than 2^31 rows in one call");
    reserve_batch(static_cast<std::size_t>(batch_size));

    Epoch e;
    e.total = static_cast<int>(total);
    e.batch = batch_size;
    e.steps = static_cast<int>((total + static_cast<std::size_t>(batch_size) - 1) / static_cast<std::size_t>(batch_size));
    e.pw.lr = lr;
    e.pw.momentum = optimizer_.momentum;
    e.pw.weight_decay = optimizer_.weight_decay;
    e.pw.nesterov = optimizer_.nesterov;
    e.pw.n_weights = static_cast<std::size_t>(Cpad_) * static_cast<std::size_t>(Dpad_);
    e.pw.n = e.pw.n_weights;
    e.pb = e.pw;  // the bias: no weight decay
    e.pb.n_weights = 0;
    e.pb.n = static_cast<std::size_t>(C_);

    const int participants = std::min(team_.size(), kSlices);
    const bool can_share = participants > 1 && std::min(batch_size, e.total) >= kMinRowsPerThread;
    const int window_steps = std::max(1, cpu::ShareChooser::kWindowRows / batch_size);
    share_chooser_.begin_call(can_share);
    for (int first = 0; first < e.steps; first += window_steps) {
      const int last = std::min(e.steps, first + window_steps);
      const int rows = std::min(e.total, last * batch_size) - first * batch_size;
      if (share_chooser_.start_window(rows)) {
        auto part = [&](int p) { run_steps(e, first, last, p, participants); };
        team_.run_together(participants, part);
      } else {
        if (can_share) team_.rest();
        run_steps(e, first, last, 0, 1);
      }
      share_chooser_.end_window();
    }
    return e.totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    Model shape;
    shape.input_dim = D_;
    shape.num_classes = C_;
    check_set_fits_model(shape, images, labels);
    const int n = static_cast<int>(images.count);
    std::vector<const std::uint8_t*> rows(images.count);
    for (std::size_t i = 0; i < images.count; ++i) rows[i] = images.image(i);
    std::vector<float> logits(images.count * static_cast<std::size_t>(C_));
    std::vector<float> loss(images.count);
    std::vector<int> correct(images.count);
    const int chunks = Dpad_ / kernels_.lanes;
    const int parts = std::max(1, std::min(n / kEvalRowsPerPart, 4 * team_.size()));  // small parts balance the load
    auto job = [&](int part) {
      const int r0 = cpu::split_point(n, part, parts);
      const int r1 = cpu::split_point(n, part + 1, parts);
      kernels_.forward(rows.data() + r0, r1 - r0, r1 - r0, w_.data(), D_, Dpad_, C_, 0, chunks,
                       logits.data() + static_cast<std::size_t>(r0) * C_);
      for (int i = r0; i < r1; ++i) {
        float* z = logits.data() + static_cast<std::size_t>(i) * C_;
        for (int c = 0; c < C_; ++c) z[c] /= 255.0f;
        const kernels::RowOutcome out = kernels::loss_grad_row(i, head_, logits.data(), bias_.data(), labels.labels.data(),
                                                               C_, 1.0f, logits.data(), nullptr);
        loss[static_cast<std::size_t>(i)] = out.loss;
        correct[static_cast<std::size_t>(i)] = out.correct;
      }
    };
    team_.run(parts, job, true);
    Totals totals;
    for (int i = 0; i < n; ++i) {  // in row order, whatever the thread count
      totals.loss_sum += loss[static_cast<std::size_t>(i)];
      totals.correct += correct[static_cast<std::size_t>(i)];
    }
    totals.count = n;
    return totals;
  }

  Model model() const override {
    Model m;
    m.input_dim = D_;
    m.num_classes = C_;
    m.head = head_;
    m.weights.resize(static_cast<std::size_t>(C_) * static_cast<std::size_t>(D_));
    gather_padded(w_.data(), m.weights.data());
    m.bias = bias_;
    return m;
  }

  void set_model(const Model& m) override {
    if (m.input_dim != D_ || m.num_classes != C_ || m.weights.size() != static_cast<std::size_t>(C_) * D_ ||
        m.bias.size() != static_cast<std::size_t>(C_)) {
      throw UsageError("set_model: the model's shape is not the backend's");
    }
    scatter_padded(m.weights.data(), w_.data());
    bias_ = m.bias;
  }

  std::vector<float> optimizer_state() const override {
    if (optimizer_.momentum == 0.0f) return {};
    std::vector<float> v(static_cast<std::size_t>(C_) * static_cast<std::size_t>(D_) + static_cast<std::size_t>(C_));
    gather_padded(vw_.data(), v.data());
    std::copy(vb_.begin(), vb_.end(), v.end() - C_);
    return v;
  }

 private:
  // One train_epoch call's steps and what they add up.
  struct Epoch {
    int total = 0;  // rows
    int batch = 0;
    int steps = 0;
    kernels::SgdStepParams pw, pb;  // weights, bias
    Totals totals;                  // written by participant 0 only
  };

  // Steps [first, last) of the call as participant p of `count` (1, or kSlices on as many threads at once).
  // Participant p owns the column slices s with s % count == p and the rows [split_point(n, p, count),
  // split_point(n, p + 1, count)) of each batch. Per step k:
  //   1. on its slices: the backward of step k-1 with the update fused, then batch k's partial logits;
  //   2. barrier; on its rows: the slices' logits added in slice order, loss_grad_row, dz / 255;
  //   3. barrier; participant 0: the bias update and the totals, in row order.
  // Participant 0 writes the bias before the next step's first barrier, and the others read it only after.
  // After the call's last step, each participant applies that step's update to its slices.
  void run_steps(Epoch& e, int first, int last, int p, int count) {
    float* vw = vw_.size() > 0 ? vw_.data() : nullptr;
    float* vb = vb_.empty() ? nullptr : vb_.data();
    const cpu::FusedUpdate update{w_.data(), vw, &e.pw, C_};
    auto backward = [&](int k) {  // step k's update on this participant's slices
      const int start = k * e.batch;
      const int n = std::min(e.batch, e.total - start);
      for (int s = p; s < kSlices; s += count) {
        kernels_.backward(rows_.data() + start, n, dzs_.data(), Cpad_, D_, Dpad_, slice_chunk_[s], slice_chunk_[s + 1],
                          dw_.data(), &update);
      }
    };
    for (int k = first; k < last; ++k) {
      const int start = k * e.batch;
      const int n = std::min(e.batch, e.total - start);
      const std::uint8_t* const* rows = rows_.data() + start;
      if (k > 0) backward(k - 1);
      for (int s = p; s < kSlices; s += count) {
        kernels_.forward(rows, n, e.total - start, w_.data(), D_, Dpad_, C_, slice_chunk_[s], slice_chunk_[s + 1],
                         partial_.data() + static_cast<std::size_t>(s) * partial_stride_);
      }
      barrier_.arrive_and_wait(p, count);

      // Logits, loss rows, dz and dz / 255 (class-padded, for the next step's backward).
      const float scale = 1.0f / static_cast<float>(n);
      const std::uint8_t* y = y_.data() + start;
      for (int i = cpu::split_point(n, p, count); i < cpu::split_point(n, p + 1, count); ++i) {
        float* z = logits_.data() + static_cast<std::size_t>(i) * C_;
        for (int c = 0; c < C_; ++c) {
          const std::size_t j = static_cast<std::size_t>(i) * C_ + c;
          float sum = partial_[j];
          for (int s = 1; s < kSlices; ++s) sum += partial_[static_cast<std::size_t>(s) * partial_stride_ + j];
          z[c] = sum / 255.0f;  // the ToTensor() division, once per logit
        }
        const kernels::RowOutcome out =
            kernels::loss_grad_row(i, head_, logits_.data(), bias_.data(), y, C_, scale, logits_.data(), dz_.data());
        row_loss_[static_cast<std::size_t>(i)] = out.loss;
        row_correct_[static_cast<std::size_t>(i)] = out.correct;
        float* g = dzs_.data() + static_cast<std::size_t>(i) * Cpad_;
        const float* dz = dz_.data() + static_cast<std::size_t>(i) * C_;
        for (int c = 0; c < C_; ++c) g[c] = dz[c] / 255.0f;  // folds the 1/255 of the pixels into dW
        for (int c = C_; c < Cpad_; ++c) g[c] = 0.0f;
      }
      barrier_.arrive_and_wait(p, count);
      if (p != 0) continue;

      Totals step;
      for (int i = 0; i < n; ++i) {
        step.loss_sum += row_loss_[static_cast<std::size_t>(i)];
        step.correct += row_correct_[static_cast<std::size_t>(i)];
      }
      step.count = n;
      double partial_db[kernels::kMaxClasses];
      float db[kernels::kMaxClasses];
      for (int c = 0; c < C_; ++c) partial_db[c] = kernels::bias_grad_partial(c, dz_.data(), n, C_, 1);
      for (int c = 0; c < C_; ++c) db[c] = kernels::bias_grad_combine(c, partial_db, C_, 1);
      for (int c = 0; c < C_; ++c) kernels::sgd_update_element(static_cast<std::size_t>(c), bias_.data(), db, vb, e.pb);
      e.totals.add_step(step);
    }
    if (last == e.steps) backward(last - 1);
  }

  // (C, D) row-major <-> (Cpad, Dpad) zero-padded.
  void scatter_padded(const float* src, float* dst) const {
    for (int c = 0; c < C_; ++c) {
      std::copy(src + static_cast<std::size_t>(c) * D_, src + static_cast<std::size_t>(c + 1) * D_,
                dst + static_cast<std::size_t>(c) * Dpad_);
    }
  }
  void gather_padded(const float* src, float* dst) const {
    for (int c = 0; c < C_; ++c) {
      std::copy(src + static_cast<std::size_t>(c) * Dpad_, src + static_cast<std::size_t>(c) * Dpad_ + D_,
                dst + static_cast<std::size_t>(c) * D_);
    }
  }

  void reserve_batch(std::size_t b) {
    if (logits_.size() >= b * static_cast<std::size_t>(C_)) return;
    partial_stride_ = b * static_cast<std::size_t>(C_);
    partial_.assign(kSlices * partial_stride_, 0.0f);
    logits_.resize(b * static_cast<std::size_t>(C_));
    dz_.resize(b * static_cast<std::size_t>(C_));
    dzs_ = AlignedFloats(b * static_cast<std::size_t>(Cpad_));
    row_loss_.resize(b);
    row_correct_.resize(b);
  }

  const ImageSet& images_;
  const LabelSet& labels_;
  LossHead head_;
  int C_, D_, Cpad_, Dpad_;
  OptimizerConfig optimizer_;
  CpuSimd simd_;
  cpu::SimdKernels kernels_;
  cpu::ShareChooser share_chooser_;
  int slice_chunk_[kSlices + 1] = {};  // slice s = chunks [slice_chunk_[s], slice_chunk_[s + 1]) of V columns
  AlignedFloats w_;          // (Cpad, Dpad) weights, zero-padded
  AlignedFloats dw_;         // (Cpad, Dpad) gradient of the step being applied
  AlignedFloats vw_;         // (Cpad, Dpad) weight velocities (momentum only)
  std::vector<float> bias_;  // (C)
  std::vector<float> vb_;    // (C) bias velocities (momentum only)
  // Per call: the pixel rows and labels of `order`; per step, sized for the largest batch seen:
  std::vector<const std::uint8_t*> rows_;  // (N) pixel rows in the order of the epoch
  std::vector<std::uint8_t> y_;            // (N) their labels
  std::size_t partial_stride_ = 0;         // B * C
  std::vector<float> partial_;             // (kSlices, B, C) each slice's logit sums, pixels 0..255
  std::vector<float> logits_;              // (B, C) logits with bias
  std::vector<float> dz_;                  // (B, C) dloss/dz / B
  AlignedFloats dzs_;                      // (B, Cpad) dz / 255, zero-padded
  std::vector<float> row_loss_;            // (B) each row's loss
  std::vector<int> row_correct_;           // (B) 1 where the row was predicted right
  cpu::StepBarrier barrier_;
  std::unique_ptr<cpu::ThreadTeam> own_team_;  // threads > 0: a team of that size; else none
  cpu::ThreadTeam& team_;                      // own_team_, or the process's shared_thread_team()
};

}  // namespace

std::unique_ptr<TrainerBackend> make_cpu_fast_backend(const ImageSet& train_images,
                                                      const LabelSet& train_labels,
                                                      const Model& initial,
                                                      const OptimizerConfig& optimizer,
                                                      const std::vector<float>& velocity,
                                                      int threads,
                                                      CpuSimd simd) {
  return std::make_unique<CpuFastBackend>(train_images, train_labels, initial, optimizer, velocity, threads, simd);
}

}  // namespace logreg
