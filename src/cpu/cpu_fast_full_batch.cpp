// The fast CPU full-batch engine (make_cpu_fast_full_batch_engine, cpu_fast.hpp): FullBatchObjective over the
// training set on a thread team, and the engine name the fast SGD backend shares. No SGD state: no weights to
// train, no momentum, no step buffers. Not here: the objective's loops (full_batch_objective.cpp,
// objective_loops.cpp).
#include <memory>
#include <string>
#include <vector>

#include "full_batch_objective.hpp"
#include "logreg/backend.hpp"
#include "logreg/cpu_fast.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "logreg/thread_team.hpp"
#include "simd_kernels.hpp"

namespace logreg {

std::string cpu::fast_engine_name(CpuSimd simd, int threads) {
  return std::string("cpu (float32, ") + cpu_simd_name(simd) + ", " + std::to_string(threads) +
         (threads == 1 ? " thread)" : " threads)");
}

namespace {

class CpuFastFullBatch final : public FullBatchEngine {
 public:
  CpuFastFullBatch(const ImageSet& images, const LabelSet& labels, const Model& shape, int threads, CpuSimd simd)
      : images_(images),
        labels_(labels),
        head_(shape.head),
        C_(shape.num_classes),
        D_(shape.input_dim),
        simd_(cpu::resolve_simd(simd)),
        own_team_(threads > 0 ? std::make_unique<cpu::ThreadTeam>(threads) : nullptr),
        team_(own_team_ ? *own_team_ : cpu::shared_thread_team()) {
    check_set_fits_model(shape, images_, labels_);
    if (C_ < 1 || C_ > kernels::kMaxClasses || D_ < 1) {
      throw DataError("", "no full-batch objective for Linear(" + std::to_string(D_) + " -> " + std::to_string(C_) + ")");
    }
  }

  std::string name() const override { return cpu::fast_engine_name(simd_, team_.size()); }

  // In double (FullBatchObjective: full_batch_objective.hpp) on the team.
  double full_batch_objective(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                              double* grad) override {
    return objective_.evaluate(images_, labels_, rows, params, l2, grad, head_, C_, D_, simd_, team_);
  }

  void full_batch_hessian_vector(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                 const double* v, double* hv) override {
    objective_.hessian_vector(images_, labels_, rows, params, l2, v, hv, head_, C_, D_, simd_, team_);
  }

 private:
  const ImageSet& images_;
  const LabelSet& labels_;
  LossHead head_;
  int C_, D_;
  CpuSimd simd_;
  std::unique_ptr<cpu::ThreadTeam> own_team_;  // threads > 0: a team of that size; else none
  cpu::ThreadTeam& team_;                      // own_team_, or the process's shared_thread_team()
  cpu::FullBatchObjective objective_;          // the row pointers and buffers, kept between calls
};

}  // namespace

std::unique_ptr<FullBatchEngine> make_cpu_fast_full_batch_engine(const ImageSet& train_images,
                                                                 const LabelSet& train_labels, const Model& shape,
                                                                 int threads, CpuSimd simd) {
  return std::make_unique<CpuFastFullBatch>(train_images, train_labels, shape, threads, simd);
}

}  // namespace logreg
