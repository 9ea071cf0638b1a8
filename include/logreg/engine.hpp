// The engine primitives: what each place that computes (the double CPU reference, the fast CPU loops, a CUDA
// device) offers over a data set it already holds. Engine: logits of rows, IDX images or feature matrices
// (inference; every engine keeps the host's definition, so predictions do not depend on the engine that trained
// the model, and an SGD engine's own per-epoch scores are TrainerBackend::evaluate); FullBatchEngine adds the
// full-batch objective and its Hessian-vector product; the SGD engine (TrainerBackend, backend.hpp) adds steps
// over a row order. The run loops above them (training.cpp, lbfgs_run.cpp, the evaluation report of
// evaluation.hpp) are written once and run on any engine. Not here: the factories (backend_factory.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/dataset.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"

namespace logreg {

// What an engine is, for the code that drives it (the chunking policy, `--device auto`); never parse
// name() for this.
struct BackendTraits {
  bool gpu = false;       // runs on a CUDA device: an epoch is handed over whole (each call ends in a host sync)
  bool emulated = false;  // that device is the CPU emulator (LOGREG_CUDA=emulated), not a GPU
};

class Engine {
 public:
  virtual ~Engine() = default;
  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // "cpu-reference (double accumulation)", "cuda (NVIDIA H100 ...)" and so on: for people (the settings
  // record, messages).
  virtual std::string name() const = 0;

  // What it is, for the code: the CPU engines keep the default (no GPU).
  virtual BackendTraits traits() const { return {}; }

  // Inference: (N, C) row-major logits W x + b of `model` for every row of `images`. The default, which every
  // engine keeps, is the host's definition (compute_logits, evaluation.hpp: double sums over the pixels in
  // order, rounded to float once), so eval, predict, the confusion matrix and the full-batch run's scores give
  // the same floats whichever engine trained the model. DataError when the image size is not the model's D.
  virtual std::vector<float> logits(const Model& model, const ImageSet& images);

  // The percentage of rows whose prediction (row_argmax of logits()) is their label: the printed accuracy. The
  // default is the host's bounded path (accuracy_percent, evaluation.hpp): the same predictions as logits(),
  // from float32 logits where their error bound proves them. DataError as logits(), and for labels that are not
  // one per image or not below the model's C.
  virtual double accuracy_percent(const Model& model, const ImageSet& images, const LabelSet& labels);

  // Inference on a feature matrix (an .npz or svmlight file's rows): (N, C) row-major logits W x + b in double.
  // The default, which every engine keeps, is the host's (feature_logits, evaluation.hpp: the bias plus the
  // row's products in feature order, never rounded to float): eval, predict and the fit of `train --data FILE`.
  // DataError when x.cols is not the model's D.
  virtual std::vector<double> feature_logits(const Model& model, const FeatureMatrix& x);
};

// An engine with the full-batch objective of the L-BFGS and Newton-CG solvers over its training set, and no SGD
// state (no momentum buffers, no step graphs): what the full-batch run (lbfgs_run.hpp) constructs.
class FullBatchEngine : public Engine {
 public:
  // The full-batch objective (maths/objective_math.hpp: scikit-learn's) at `params`, over the training rows
  // `rows` (indices into the engine's training set, n = rows.size() > 0):
  //   params: (C*D + C) W (C, D) row-major, then b (C); l2 = l2_strength(C, n) (0: no penalty);
  //   grad:   (C*D + C) receives df/dparams in the same layout. Returns f.
  // Bit-identical for the same arguments, run to run.
  virtual double full_batch_objective(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                      double* grad) = 0;

  // The Newton-CG solver's Hessian-vector product of the same objective: hv (C*D + C) = H(params) v, v and hv
  // in the layout of params, softmax head only (UsageError for the others). Bit-identical for the same
  // arguments. The default throws UsageError: "--solver newton-cg runs on --device cpu or reference".
  virtual void full_batch_hessian_vector(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                                         const double* v, double* hv);
};

}  // namespace logreg
