// CudaFeatureParts and make_cuda_feature_part_sums() (cuda_backend.hpp): the row parts of a feature file's
// full-batch objective in double on the device, through DeviceObjective and the kernel of the IDX full-batch
// engine (kernels/objective_fp64.cu) reading the rows in their element type, with per-row weights. The rows of
// the parts asked for are uploaded once (CSR rows densified to float64 on the way) and stay on the device.
// Not here: adding the parts and the penalty (FeatureObjective, on the host), the solver.
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_probe.hpp"
#include "device_objective.hpp"
#include "device_resources.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/maths/row_parts.hpp"
#include "nvtx_range.hpp"

namespace logreg {
namespace cuda {
namespace {

// The element type the device reads: a dense matrix's own, float64 for CSR (densified).
FeatureDtype device_element(const FeatureMatrix& x) { return x.sparse ? FeatureDtype::kFloat64 : x.dtype; }

std::size_t element_bytes(FeatureDtype t) {
  switch (t) {
    case FeatureDtype::kUint8: return 1;
    case FeatureDtype::kFloat32: return sizeof(float);
    case FeatureDtype::kFloat64: return sizeof(double);
  }
  return sizeof(double);
}

// Bytes of the rows as the device holds them (rows x cols elements); UINT64_MAX when that overflows.
std::uint64_t device_row_bytes(const FeatureMatrix& x) {
  const std::uint64_t cells = static_cast<std::uint64_t>(x.rows) * static_cast<std::uint64_t>(x.cols);
  const std::uint64_t size = element_bytes(device_element(x));
  if (x.cols != 0 && cells / x.cols != x.rows) return UINT64_MAX;
  return cells > UINT64_MAX / size ? UINT64_MAX : cells * size;
}

class CudaFeatureParts final : public FeaturePartSums {
 public:
  CudaFeatureParts(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head, int num_classes,
                   const FeatureFitTerms& terms, const CudaOptions& options, std::uint64_t max_dense_bytes)
      : prop_(select_device(options)),
        x_(x),
        y_(y),
        weights_(terms.row_weights),
        head_(head),
        inv_total_(1.0 / terms.weight_total),
        objective_(num_classes, static_cast<int>(x.cols), prop_.sharedMemPerBlockOptin) {
    if (num_classes < 1 || num_classes > kernels::kMaxClasses) {
      throw UsageError("--device cuda: 1 to " + std::to_string(kernels::kMaxClasses) + " classes, not " +
                       std::to_string(num_classes));
    }
    if (x.rows == 0 || x.rows > static_cast<std::size_t>(INT_MAX) || x.cols > static_cast<std::size_t>(INT_MAX) ||
        y.size() != x.rows || (!weights_.empty() && weights_.size() != x.rows)) {
      throw DataError(x.path, "--device cuda fits 1 to 2^31 - 1 rows of at most 2^31 - 1 features, one label (and "
                              "weight) per row; got " + std::to_string(x.rows) + " rows x " + std::to_string(x.cols) +
                              " features, " + std::to_string(y.size()) + " labels");
    }
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (y[i] >= static_cast<std::uint32_t>(num_classes)) {
        throw DataError(x.path, "row " + std::to_string(i) + ": class index " + std::to_string(y[i]) + " is not below " +
                                    std::to_string(num_classes) + " classes");
      }
    }
    const std::uint64_t bytes = device_row_bytes(x);
    if (x.sparse && bytes > max_dense_bytes) {
      throw UsageError(x.path + ": --device cuda reads CSR rows densified to float64, and the dense form of its " +
                       std::to_string(x.rows) + " rows x " + std::to_string(x.cols) + " features takes " +
                       std::to_string(bytes) + " bytes, over --max-bytes " + std::to_string(max_dense_bytes) +
                       "; raise --max-bytes, or fit it on --device cpu (which keeps CSR rows sparse)");
    }
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const std::uint64_t on_device =
        bytes == UINT64_MAX ? bytes
                            : bytes + x.rows * (1 + (weights_.empty() ? 0 : sizeof(double))) +
                                  objective_device_bytes(x.rows, x.cols, num_classes);
    if (on_device > free_bytes) {
      throw ResourceError("--device cuda: " + x.path + "'s " + std::to_string(x.rows) + " rows x " +
                          std::to_string(x.cols) + " features and the objective's buffers take " +
                          std::to_string(on_device) + " bytes of device memory, " + std::to_string(free_bytes) +
                          " are free; feature files keep their rows on the device (fit it on --device cpu)");
    }
  }

  ~CudaFeatureParts() override {
    log_release_failure(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize(feature parts)");
  }

  std::string name() const override {
    const char* rows = x_.sparse ? "CSR rows densified to float64" : feature_dtype_name(x_.dtype);
    return "cuda (" + std::string(prop_.name) + ", cc " + compute_capability(prop_) + "; " + rows +
           " rows on device, double objective, 8 row parts)";
  }

  void part_sums(int first, int last, const double* params, double* sums) override {
    NvtxRange range("feature_part_sums");
    const PartRows span = objective_.part_rows(x_.rows, first, last);
    if (first == last) return;  // a rank without parts
    upload(span);
    kernels::ObjectiveArgs args{};
    args.x = rows_.data();
    args.element = device_element(x_);
    args.labels = labels_.data();
    args.weights = weights_.empty() ? nullptr : row_weights_.data();
    args.rows = nullptr;  // position i is row i - first_row of the uploaded window
    args.n = static_cast<int>(x_.rows);
    args.first_part = first;
    args.first_row = static_cast<int>(span.first);
    args.head = head_;
    args.inv_n = inv_total_;
    objective_.evaluate(args, last - first, params, stream_.get(), sums);
  }

 private:
  // Rows [span.first, span.last) on the device, with their labels and weights; uploaded when they differ from the
  // rows held.
  void upload(const PartRows& span) {
    if (span.first == held_.first && span.last == held_.last && rows_.size() > 0) return;
    stream_.synchronize();  // the buffers may be read by enqueued work
    const std::size_t m = span.last - span.first;
    const std::size_t D = x_.cols;
    const std::size_t row_bytes = D * element_bytes(device_element(x_));
    rows_ = DeviceBuffer<std::uint8_t>(m * row_bytes);
    if (x_.sparse) {
      std::vector<double> dense(m * D);  // bounded by --max-bytes (checked above)
      for (std::size_t i = 0; i < m; ++i) x_.row_to_double(span.first + i, dense.data() + i * D);
      CUDA_CHECK(cudaMemcpyAsync(rows_.data(), dense.data(), rows_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
      stream_.synchronize();  // `dense` is about to go
    } else {
      CUDA_CHECK(cudaMemcpyAsync(rows_.data(), x_.dense.data() + span.first * row_bytes, rows_.bytes(),
                                 cudaMemcpyHostToDevice, stream_.get()));
    }
    std::vector<std::uint8_t> labels(m);
    for (std::size_t i = 0; i < m; ++i) labels[i] = static_cast<std::uint8_t>(y_[span.first + i]);
    labels_ = DeviceBuffer<std::uint8_t>(m);
    CUDA_CHECK(cudaMemcpyAsync(labels_.data(), labels.data(), m, cudaMemcpyHostToDevice, stream_.get()));
    if (!weights_.empty()) {
      row_weights_ = DeviceBuffer<double>(m);
      CUDA_CHECK(cudaMemcpyAsync(row_weights_.data(), weights_.data() + span.first, m * sizeof(double),
                                 cudaMemcpyHostToDevice, stream_.get()));
    }
    stream_.synchronize();  // `labels` is about to go
    held_ = span;
  }

  cudaDeviceProp prop_;
  const FeatureMatrix& x_;
  const std::vector<std::uint32_t>& y_;
  const std::vector<double>& weights_;  // (n) a_i, or empty: all 1
  LossHead head_;
  double inv_total_;                    // 1 / S
  CudaStream stream_;
  DeviceBuffer<std::uint8_t> rows_;     // (m, D) elements of device_element(x_): the held rows
  DeviceBuffer<std::uint8_t> labels_;   // (m) their class indices
  DeviceBuffer<double> row_weights_;    // (m) their weights, or empty
  PartRows held_{0, 0};                 // the positions the buffers hold
  DeviceObjective objective_;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<FeaturePartSums> make_cuda_feature_part_sums(const FeatureMatrix& x, const std::vector<std::uint32_t>& y,
                                                             LossHead head, int num_classes, const FeatureFitTerms& terms,
                                                             const CudaOptions& options, std::uint64_t max_dense_bytes) {
  return std::make_unique<cuda::CudaFeatureParts>(x, y, head, num_classes, terms, options, max_dense_bytes);
}

}  // namespace logreg
