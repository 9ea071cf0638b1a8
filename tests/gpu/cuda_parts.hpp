// CudaParts: the CUDA backend's parts (DeviceStep, one input path, the EpochRunner, the Evaluator) put
// together as make_cuda_backend puts them, for the tests that look inside a step: the last step's device
// buffers, every batch as the GEMMs read it (RecordingSource wraps the input path), the evaluator's uploads.
// Test code only: the backend itself has no probe and no recorder.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "batch_source.hpp"
#include "cuda_check.hpp"
#include "device_resources.hpp"
#include "device_step.hpp"
#include "epoch_runner.hpp"
#include "evaluator.hpp"
#include "logreg/backend.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/dataset.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "resident_input.hpp"
#include "streamed_input.hpp"

namespace logreg::test {

// Every batch of an epoch as the GEMMs read it, back to back: the floats x converted back to pixels (each
// x is p / 255 for a uint8 p, so round(x * 255) is p exactly) and the labels.
struct RecordedBatches {
  std::vector<std::uint8_t> pixels;  // (rows, D) row-major
  std::vector<std::uint8_t> labels;  // (rows)
};

// An input path that passes every batch of `inner` through and copies it, on the device, right after it is
// enqueued. Not capturable and not resident, so the epoch runs step by step with every batch seen.
class RecordingSource final : public cuda::BatchSource {
 public:
  RecordingSource(cuda::BatchSource& inner, std::size_t dim) : inner_(inner), dim_(dim) {}

  bool begin_epoch(const std::vector<std::uint32_t>& order, std::size_t max_rows, cuda::DeviceStep& step) override {
    x_ = cuda::DeviceBuffer<float>(order.size() * dim_);
    labels_ = cuda::DeviceBuffer<std::uint8_t>(order.size());
    rows_ = 0;
    stream_ = step.stream();
    return inner_.begin_epoch(order, max_rows, step);
  }
  cuda::DeviceBatch next_batch(std::size_t start, int rows, cuda::DeviceStep& step) override {
    const cuda::DeviceBatch batch = inner_.next_batch(start, rows, step);
    const std::size_t r = static_cast<std::size_t>(rows);
    CUDA_CHECK(cudaMemcpyAsync(x_.data() + rows_ * dim_, step.x(), r * dim_ * sizeof(float), cudaMemcpyDeviceToDevice,
                               step.stream()));
    CUDA_CHECK(cudaMemcpyAsync(labels_.data() + rows_, batch.labels, r, cudaMemcpyDeviceToDevice, step.stream()));
    rows_ += r;
    return batch;
  }
  bool capturable() const override { return false; }

  RecordedBatches read() const {
    std::vector<float> x(rows_ * dim_);
    RecordedBatches out;
    out.labels.resize(rows_);
    if (rows_ > 0) {
      CUDA_CHECK(cudaMemcpyAsync(x.data(), x_.data(), x.size() * sizeof(float), cudaMemcpyDeviceToHost, stream_));
      CUDA_CHECK(cudaMemcpyAsync(out.labels.data(), labels_.data(), rows_, cudaMemcpyDeviceToHost, stream_));
      CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
    out.pixels.resize(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) {
      out.pixels[k] = static_cast<std::uint8_t>(std::lround(static_cast<double>(x[k]) * 255.0));
    }
    return out;
  }

 private:
  cuda::BatchSource& inner_;
  std::size_t dim_;
  std::size_t rows_ = 0;
  cudaStream_t stream_ = nullptr;
  cuda::DeviceBuffer<float> x_;              // (epoch rows, D)
  cuda::DeviceBuffer<std::uint8_t> labels_;  // (epoch rows)
};

class CudaParts {
 public:
  // `residency`: kDevice or kStream (the set must fit the device for kDevice); `ring_slots`: the streamed
  // path's pinned buffers.
  CudaParts(const ImageSet& images, const LabelSet& labels, const Model& initial, Residency residency,
            int ring_slots = 3, CudaKernel kernel = CudaKernel::kCublas)
      : prop_(device_properties()),
        head_(initial.head),
        step_(prop_, initial, OptimizerConfig{}, {}, compute_.get()),
        runner_(kernel, /*graphs=*/true, prop_.sharedMemPerBlockOptin) {
    if (residency == Residency::kDevice) {
      resident_ = std::make_unique<cuda::ResidentInput>(images, labels, step_);
    } else {
      streamed_ = std::make_unique<cuda::StreamedInput>(images, labels, ring_slots, copy_.get());
    }
  }
  ~CudaParts() { (void)cudaStreamSynchronize(compute_.get()); }
  CudaParts(const CudaParts&) = delete;
  CudaParts& operator=(const CudaParts&) = delete;

  cuda::BatchSource& source() {
    return resident_ != nullptr ? static_cast<cuda::BatchSource&>(*resident_) : static_cast<cuda::BatchSource&>(*streamed_);
  }

  // One epoch as CudaBackend::train_epoch runs it, over `source` (the input path, or a wrapper of it).
  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch, float lr, cuda::BatchSource& source) {
    step_.begin_epoch(lr);
    last_rows_ = runner_.train_epoch(order, batch, step_, source);
    const kernels::DeviceTotals t = step_.read_totals(step_.train_totals());
    Totals totals;
    totals.count = static_cast<std::int64_t>(order.size());
    totals.loss_sum = t.loss_sum;
    totals.correct = static_cast<std::int64_t>(t.correct);
    totals.last_batch_loss = t.last_batch_loss_sum / static_cast<double>(last_rows_);
    return totals;
  }
  Totals train_epoch(const std::vector<std::uint32_t>& order, int batch, float lr) {
    return train_epoch(order, batch, lr, source());
  }

  // The intermediates of the last step of the last epoch (step by step only).
  cuda::StepIntermediates last_step() const { return step_.last_step(last_rows_); }
  Model model() const { return step_.model(head_); }
  cuda::DeviceStep& step() { return step_; }
  cuda::Evaluator& evaluator() { return evaluator_; }
  Totals evaluate(const ImageSet& images, const LabelSet& labels) {
    return evaluator_.evaluate(images, labels, step_, head_);
  }

 private:
  static cudaDeviceProp device_properties() {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    return prop;
  }

  cudaDeviceProp prop_;
  LossHead head_;
  cuda::CudaStream compute_;
  cuda::CudaStream copy_;
  cuda::DeviceStep step_;
  std::unique_ptr<cuda::ResidentInput> resident_;
  std::unique_ptr<cuda::StreamedInput> streamed_;
  cuda::EpochRunner runner_;
  cuda::Evaluator evaluator_;
  int last_rows_ = 0;
};

// Trains two epochs (the second reuses what the first filled) of `batch` rows in epoch_order(order_seed, e)
// and checks that the batches the GEMMs read are the images and labels of that order, byte for byte.
// `what` names the configuration in failure messages.
inline void ExpectBatchesInShuffledOrder(CudaParts& parts, const ImageSet& images, const LabelSet& labels, int batch,
                                         std::uint64_t order_seed, const std::string& what) {
  const auto n = static_cast<std::uint32_t>(images.count);
  const std::size_t dim = images.dim();
  RecordingSource recording(parts.source(), dim);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const std::vector<std::uint32_t> order = epoch_order(order_seed, epoch, n);
    parts.train_epoch(order, batch, 0.01f, recording);
    const RecordedBatches captured = recording.read();
    ASSERT_EQ(captured.pixels.size(), static_cast<std::size_t>(n) * dim);
    ASSERT_EQ(captured.labels.size(), n);
    for (std::uint32_t j = 0; j < n; ++j) {
      ASSERT_EQ(0, std::memcmp(captured.pixels.data() + static_cast<std::size_t>(j) * dim, images.image(order[j]), dim))
          << what << ", epoch " << epoch << ": device row " << j << " (batch " << j / static_cast<std::uint32_t>(batch)
          << ") is not image " << order[j];
      ASSERT_EQ(captured.labels[j], labels.labels[order[j]]) << what << ", epoch " << epoch << ": label of row " << j;
    }
  }
}

}  // namespace logreg::test
