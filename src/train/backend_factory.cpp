// The engine factory (backend_factory.hpp): the `auto` rule, creating the requested SGD backend or full-batch
// engine, and the chunking policy. Not here: the engines themselves, the CLI's options.
#include "logreg/backend_factory.hpp"

#include <memory>
#include <string>
#include <utility>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"
#include "logreg/ranks.hpp"

namespace logreg {

namespace {

class HostInference final : public Engine {
 public:
  std::string name() const override { return "cpu (inference)"; }
};

// The device of a request (probing CUDA only for auto and cuda), with the probe it was chosen by.
struct ChosenDevice {
  DeviceChoice choice;
  CudaProbe probe;
};

ChosenDevice choose_device(const BackendRequest& request, const CudaEntryPoints& cuda) {
  const bool may_use_cuda = request.device == Device::kAuto || request.device == Device::kCuda;
  ChosenDevice chosen;
  chosen.probe = may_use_cuda ? cuda.probe() : CudaProbe{};
  chosen.choice = resolve_device(request.device, chosen.probe);
  return chosen;
}

// The CUDA options of one process: under MPI ranks, one GPU per rank (the rank's place on its node, modulo the
// devices this process sees).
CudaOptions options_on_rank_device(CudaOptions options, const CudaProbe& probe) {
  if (ranks::size() > 1 && probe.device_count > 0) options.device = ranks::local_rank() % probe.device_count;
  return options;
}

// The options of an SGD CUDA engine: the rank's device, the update and the saved momentum.
CudaOptions sgd_cuda_options(const BackendRequest& request, const CudaProbe& probe) {
  CudaOptions options = options_on_rank_device(request.cuda, probe);
  options.optimizer = request.optimizer;
  options.velocity = request.velocity;
  return options;
}

// The engine of the chosen device: reference(), on_cuda() or on_cpu() (cpu, and auto without a usable GPU), and
// the note to print: the choice's, or on CUDA the engine's name.
template <class Made, class Reference, class OnCuda, class OnCpu>
std::unique_ptr<Made> engine_on(const DeviceChoice& choice, std::string* note, Reference reference, OnCuda on_cuda,
                                OnCpu on_cpu) {
  *note = choice.note;
  switch (choice.device) {
    case Device::kReference:
      return reference();
    case Device::kCuda: {
      std::unique_ptr<Made> engine = on_cuda();
      *note = "logreg_cuda: training on " + engine->name();
      return engine;
    }
    case Device::kCpu:
    case Device::kAuto:
      break;
  }
  return on_cpu();
}

// The options of a full-batch CUDA engine: the rank's device and the parts this process computes.
CudaOptions full_batch_cuda_options(const BackendRequest& request, const CudaProbe& probe) {
  CudaOptions options = options_on_rank_device(request.cuda, probe);
  options.parts = ranks::part_share();  // all parts in a single process
  return options;
}

}  // namespace

DeviceChoice resolve_device(Device requested, const CudaProbe& probe) {
  DeviceChoice choice;
  switch (requested) {
    case Device::kCpu:
    case Device::kReference:
      choice.device = requested;
      return choice;
    case Device::kCuda:
      if (!probe.usable) throw ResourceError("--device cuda: no usable CUDA device: " + probe.reason);
      choice.device = Device::kCuda;
      return choice;
    case Device::kAuto:
      break;
  }
  if (!probe.usable) {
    choice.note = "logreg_cuda: no usable CUDA device (" + probe.reason + "); training on the CPU";
  } else if (probe.emulated) {
    choice.note = "logreg_cuda: the CUDA device is the CPU emulator of this LOGREG_CUDA=emulated build; training on "
                  "the CPU backend (--device cuda trains on the emulator)";
  } else {
    choice.device = Device::kCuda;
  }
  return choice;
}

MadeBackend make_backend(const BackendRequest& request, const ImageSet& train_images, const LabelSet& train_labels,
                         const Model& initial, const CudaEntryPoints& cuda) {
  const ChosenDevice chosen = choose_device(request, cuda);
  MadeBackend made;
  made.backend = engine_on<TrainerBackend>(
      chosen.choice, &made.note,
      [&] { return make_cpu_reference_backend(train_images, train_labels, initial, request.optimizer, request.velocity); },
      [&] { return cuda.make(train_images, train_labels, initial, sgd_cuda_options(request, chosen.probe)); },
      [&] { return make_cpu_fast_backend(train_images, train_labels, initial, request.optimizer, request.velocity); });
  return made;
}

MadeBackend make_feature_backend(const BackendRequest& request, const FeatureRows& rows, const Model& initial,
                                 const CudaEntryPoints& cuda) {
  const ChosenDevice chosen = choose_device(request, cuda);
  MadeBackend made;
  made.backend = engine_on<TrainerBackend>(
      chosen.choice, &made.note,
      [&] { return make_reference_feature_backend(rows, initial, request.optimizer, request.velocity); },
      [&] { return cuda.make_feature(rows, initial, sgd_cuda_options(request, chosen.probe)); },
      [&] { return make_cpu_feature_backend(rows, initial, request.optimizer, request.velocity); });
  return made;
}

MadeFullBatchEngine make_full_batch_engine(const BackendRequest& request, const ImageSet& train_images,
                                           const LabelSet& train_labels, const Model& shape,
                                           const CudaEntryPoints& cuda) {
  const ChosenDevice chosen = choose_device(request, cuda);
  MadeFullBatchEngine made;
  made.engine = engine_on<FullBatchEngine>(
      chosen.choice, &made.note, [&] { return make_cpu_reference_full_batch_engine(train_images, train_labels, shape); },
      [&] {
        return cuda.make_full_batch(train_images, train_labels, shape, full_batch_cuda_options(request, chosen.probe));
      },
      [&] { return make_cpu_fast_full_batch_engine(train_images, train_labels, shape); });
  return made;
}

FeaturePartsMaker make_cuda_feature_parts_maker(const BackendRequest& request, std::uint64_t max_dense_bytes,
                                                const CudaEntryPoints& cuda) {
  const CudaProbe probe = cuda.probe();
  resolve_device(Device::kCuda, probe);  // ResourceError naming the probe's reason
  const CudaOptions options = full_batch_cuda_options(request, probe);
  const auto make = cuda.make_feature_parts;
  return [options, max_dense_bytes, make](const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head,
                                          int num_classes, const FeatureFitTerms& terms) {
    return make(x, y, head, num_classes, terms, options, max_dense_bytes);
  };
}

std::unique_ptr<Engine> make_inference_engine() { return std::make_unique<HostInference>(); }

int chunks_per_epoch(const BackendTraits& traits) { return traits.gpu ? 1 : kCpuChunksPerEpoch; }

}  // namespace logreg
