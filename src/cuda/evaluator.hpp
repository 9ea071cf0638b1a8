// Evaluator: loss and correct count of the current parameters over an image set, on the device. Each set
// (the test set, a validation split) is uploaded once as uint8 and kept, keyed by identity, so evaluating
// both every epoch re-uploads nothing; floats are made per chunk of kChunkRows rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "device_resources.hpp"
#include "device_step.hpp"
#include "logreg/backend.hpp"
#include "logreg/dataset.hpp"

namespace logreg::cuda {

class Evaluator {
 public:
  static constexpr std::size_t kChunkRows = 8192;  // bounds the float copy of the images on the device
  static constexpr std::size_t kMaxCachedSets = 4;  // the least recently used set is dropped beyond

  Totals evaluate(const ImageSet& images, const LabelSet& labels, DeviceStep& step, LossHead head);
  std::size_t uploads() const { return uploads_; }  // how many sets were uploaded so far (tests)

 private:
  struct CachedSet {
    const ImageSet* images = nullptr;  // identity of the host set it holds
    const std::uint8_t* pixels_host = nullptr;
    std::size_t count = 0;
    const LabelSet* labels = nullptr;
    const std::uint8_t* labels_host = nullptr;
    DeviceBuffer<std::uint8_t> pixels;   // (N, D)
    DeviceBuffer<std::uint8_t> labels_device;  // (N)
    std::uint64_t last_used = 0;
  };
  CachedSet& upload(const ImageSet& images, const LabelSet& labels, DeviceStep& step);

  std::vector<CachedSet> sets_;
  std::uint64_t clock_ = 0;
  std::size_t uploads_ = 0;
  DeviceBuffer<float> x_;       // (chunk, D)
  DeviceBuffer<float> logits_;  // (chunk, C)
  LossPartialsBuffer partials_;  // the many-block loss kernel's per-block sums, for a chunk
};

// The classes check every label set gets before it reaches a kernel.
void check_labels(const LabelSet& labels, int classes);

}  // namespace logreg::cuda
