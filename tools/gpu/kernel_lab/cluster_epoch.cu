/*
Kernel lab: the one-launch epoch kernels side by side, launched directly (no backend), on a random training
set of MNIST's shape (60,000 rows of 784 pixels, 10 classes) resident on the device:

version 1: cluster_epoch_kernel<false> (kernels/cluster_epoch.cu): a cluster of 7 blocks, each owning 112
           pixels of W; partial logits pushed through distributed shared memory; one cluster.sync() per step.
version 2: cluster_epoch_kernel<true>: the same, with an mbarrier per parity slot and remote arrivals instead of
           the cluster.sync().
baseline:  persistent_epoch_kernel (kernels/persistent_epoch.cu): one block of 1,024 threads on one SM; at
           batch 32 only (it holds at most 83 rows of 784 pixels).

Each version is first validated against the CPU model of its summation order (tests/gpu/cluster_epoch_model.hpp)
on 2,048 rows: bit for bit on the emulated device, |model - x| <= 1e-5 relative L2 on a GPU (the device's expf
and contracted multiply-adds differ from the host's in the last bits). Then, on a GPU, each is timed: a warm-up
epoch, then 5 epochs between CUDA events, the median in ms per epoch and µs per step, at batch 32 and 256.
For the cluster versions one more epoch reports where a step's time goes (kClusterPhases: clock64() cycles of
rank 0's thread 0 per step: forward and stores, exchange wait, loss, update, copy wait). Last, two
micro-benchmarks with clock64(): cycles per cluster.sync() of 7 blocks, and cycles per dependent
distributed-shared-memory load from a peer block.

Build (EXCLUDE_FROM_ALL with nvcc; tools/gpu_prepare.sh builds it, tools/gpu_run.sh runs it):
  cmake --build build --target kernel_lab_cluster_epoch
Run:
  build/kernel_lab_cluster_epoch                  # validate, then time and the micro-benchmarks
  build/kernel_lab_cluster_epoch --validate-only  # what CI runs on the emulated device (never times there)
*/
#include <cuda_runtime.h>
#include <cooperative_groups.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "../../tests/gpu/cluster_epoch_model.hpp"
#include "cluster_epoch.hpp"
#include "cluster_epoch_plan.hpp"
#include "cuda_check.hpp"
#include "device_resources.hpp"
#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/model.hpp"
#include "lab_harness.hpp"

namespace {

using logreg::cuda::CudaEvent;
using logreg::cuda::DeviceBuffer;
using logreg::kernels::ClusterExchange;
using logreg::kernels::DeviceStepState;
using logreg::kernels::DeviceTotals;
using logreg::kernels::PersistentEpochArgs;

constexpr int kDim = 784;
constexpr int kClasses = 10;
constexpr std::uint32_t kSetRows = 60000;
constexpr std::uint32_t kValidateRows = 2048;

enum class Version { kClusterSync = 1, kMbarrier = 2, kPersistent = 3 };

const char* version_name(Version v) {
  switch (v) {
    case Version::kClusterSync: return "v1 cluster, cluster.sync()";
    case Version::kMbarrier: return "v2 cluster, mbarrier exchange";
    case Version::kPersistent: return "persistent kernel (one SM)";
  }
  return "?";
}

// The set on the device and the epoch's buffers; params and velocity are reset before each run.
struct Lab : logreg::lab::RandomSet {
  explicit Lab(std::uint32_t rows) : RandomSet(rows, kDim, kClasses) {}
  std::vector<float> initial;  // (C*D + C)
  DeviceBuffer<std::uint32_t> d_order;
  DeviceBuffer<float> d_params;
  DeviceBuffer<float> d_velocity;
  DeviceBuffer<DeviceStepState> d_state;
  DeviceBuffer<DeviceTotals> d_totals;
};

PersistentEpochArgs epoch_args(Lab& lab, std::size_t rows, int batch, bool momentum) {
  PersistentEpochArgs a{};
  a.pixels = lab.d_pixels.data();
  a.labels = lab.d_labels.data();
  a.order = lab.d_order.data();
  a.rows = rows;
  a.batch = batch;
  a.dim = kDim;
  a.classes = kClasses;
  a.head = logreg::LossHead::kSoftmax;
  a.sgd.momentum = momentum ? 0.9f : 0.0f;
  a.sgd.nesterov = momentum;
  a.sgd.weight_decay = momentum ? 1e-3f : 0.0f;
  a.params = lab.d_params.data();
  a.velocity = momentum ? lab.d_velocity.data() : nullptr;
  a.state = lab.d_state.data();
  a.totals = lab.d_totals.data();
  return a;
}

void reset(Lab& lab, float lr) {
  CUDA_CHECK(cudaMemcpy(lab.d_params.data(), lab.initial.data(), lab.d_params.bytes(), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemset(lab.d_velocity.data(), 0, lab.d_velocity.bytes()));
  CUDA_CHECK(cudaMemset(lab.d_totals.data(), 0, lab.d_totals.bytes()));
  const DeviceStepState s{0, lr};
  CUDA_CHECK(cudaMemcpy(lab.d_state.data(), &s, sizeof s, cudaMemcpyHostToDevice));
}

void enqueue_epoch(Version v, const PersistentEpochArgs& a, cudaStream_t stream) {
  const bool momentum = a.velocity != nullptr;
  if (v == Version::kPersistent) {
    logreg::kernels::persistent_epoch(
        a, logreg::kernels::persistent_epoch_shared_bytes(a.batch, a.dim, a.classes, momentum), stream);
    return;
  }
  logreg::kernels::cluster_epoch(a, logreg::kernels::cluster_epoch_shared_bytes(a.batch, a.dim, a.classes, momentum),
                                 stream, v == Version::kMbarrier ? ClusterExchange::kMbarrier : ClusterExchange::kClusterSync);
}

// One epoch over the first kValidateRows rows of the order; the cluster versions against the CPU model.
bool validate(Lab& lab, Version v, int batch, bool momentum, bool emulated) {
  const std::vector<std::uint32_t> order = logreg::epoch_order(5, 1, kValidateRows);
  CUDA_CHECK(cudaMemcpy(lab.d_order.data(), order.data(), order.size() * sizeof(std::uint32_t), cudaMemcpyHostToDevice));
  const float lr = 0.01f;
  reset(lab, lr);
  enqueue_epoch(v, epoch_args(lab, order.size(), batch, momentum), nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> got(lab.initial.size());
  CUDA_CHECK(cudaMemcpy(got.data(), lab.d_params.data(), lab.d_params.bytes(), cudaMemcpyDeviceToHost));
  std::vector<float> want = lab.initial;
  std::vector<float> velocity(momentum ? want.size() : 0, 0.0f);
  logreg::kernels::SgdStepParams p;
  p.momentum = momentum ? 0.9f : 0.0f;
  p.nesterov = momentum;
  p.weight_decay = momentum ? 1e-3f : 0.0f;
  // The persistent kernel sums in another order (its tests compare it with the reference): here only that it ran.
  if (v == Version::kPersistent) return std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); });
  logreg::test::cluster_epoch_model(lab.pixels.data(), lab.labels.data(), order, batch, kDim, kClasses,
                                    logreg::kernels::cluster_epoch_ranks(kDim), logreg::LossHead::kSoftmax, p, lr,
                                    want, velocity);
  double num = 0.0, den = 0.0;
  std::size_t differing = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
    differing += got[i] != want[i] ? 1 : 0;
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  std::printf("    %zu of %zu parameters differ from the model, relative L2 %.3g\n", differing, want.size(), rel);
  return emulated ? differing == 0 : rel <= 1e-5;
}

// Median ms per epoch of 5 timed epochs over the whole set (after one warm-up epoch).
double time_epochs(Lab& lab, Version v, int batch, cudaStream_t stream) {
  const std::vector<std::uint32_t> order = logreg::epoch_order(7, 1, kSetRows);
  CUDA_CHECK(cudaMemcpy(lab.d_order.data(), order.data(), order.size() * sizeof(std::uint32_t), cudaMemcpyHostToDevice));
  const PersistentEpochArgs a = epoch_args(lab, order.size(), batch, false);
  std::vector<double> ms;
  CudaEvent start(true), stop(true);
  for (int e = 0; e < 6; ++e) {
    reset(lab, 0.001f);
    start.record(stream);
    enqueue_epoch(v, a, stream);
    stop.record(stream);
    CUDA_CHECK(cudaStreamSynchronize(stream));
    float t = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&t, start.get(), stop.get()));
    if (e > 0) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Cycles per step of each phase over one epoch of the cluster version v (after time_epochs loaded the order).
std::vector<double> phase_cycles_per_step(Lab& lab, Version v, int batch, cudaStream_t stream) {
  DeviceBuffer<long long> cycles(logreg::kernels::kClusterPhases);
  reset(lab, 0.001f);
  const PersistentEpochArgs a = epoch_args(lab, kSetRows, batch, false);
  logreg::kernels::cluster_epoch(a, logreg::kernels::cluster_epoch_shared_bytes(batch, kDim, kClasses, false), stream,
                                 v == Version::kMbarrier ? ClusterExchange::kMbarrier : ClusterExchange::kClusterSync,
                                 cycles.data());
  CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<long long> host(logreg::kernels::kClusterPhases);
  CUDA_CHECK(cudaMemcpy(host.data(), cycles.data(), cycles.bytes(), cudaMemcpyDeviceToHost));
  const double steps = static_cast<double>((kSetRows + batch - 1) / batch);
  std::vector<double> out;
  for (long long c : host) out.push_back(static_cast<double>(c) / steps);
  return out;
}

#if !defined(LOGREG_CUDA_EMULATED)
// cycles[block] = clock64() cycles of `iterations` cluster.sync() calls of a 7-block cluster, divided by them.
// Both have clusters from sm_90 on only (the fat binary's older architectures get a trap; never launched there).
__global__ void cluster_sync_bench_kernel(int iterations, double* cycles) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  (void)iterations;
  (void)cycles;
  __trap();
#else
  namespace cg = cooperative_groups;
  const cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const long long t0 = clock64();
  for (int i = 0; i < iterations; ++i) cluster.sync();
  const long long t1 = clock64();
  if (threadIdx.x == 0) cycles[blockIdx.x] = static_cast<double>(t1 - t0) / iterations;
#endif
}

// Block 0's thread 0 follows a chain of indices stored in block 1's shared memory (dependent loads across the
// cluster): cycles per distributed-shared-memory load.
__global__ void dsmem_latency_bench_kernel(int iterations, double* cycles) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  (void)iterations;
  (void)cycles;
  __trap();
#else
  namespace cg = cooperative_groups;
  LOGREG_DYNAMIC_SHARED(int, chain);
  const cg::cluster_group cluster = cg::this_cluster();
  for (int i = static_cast<int>(threadIdx.x); i < 1024; i += static_cast<int>(blockDim.x)) chain[i] = (i + 33) % 1024;
  cluster.sync();
  if (cluster.block_rank() == 0 && threadIdx.x == 0) {
    const int* peer = cluster.map_shared_rank(chain, 1u);
    int k = 0;
    const long long t0 = clock64();
    for (int i = 0; i < iterations; ++i) k = *static_cast<const volatile int*>(peer + k);
    const long long t1 = clock64();
    cycles[0] = static_cast<double>(t1 - t0) / iterations + (k == -1 ? 1.0 : 0.0);
  }
  cluster.sync();
#endif
}

void micro_benchmarks() {
  DeviceBuffer<double> cycles(8);
  const int iterations = 10000;
  using logreg::kernels::LaunchShape;
  logreg::kernels::launch_kernel("cluster_sync_bench_kernel", cluster_sync_bench_kernel,
                                 logreg::kernels::clustered(LaunchShape{7, 256, 0}, 7), nullptr, iterations,
                                 cycles.data());
  CUDA_CHECK(cudaDeviceSynchronize());
  double host[8] = {};
  CUDA_CHECK(cudaMemcpy(host, cycles.data(), 7 * sizeof(double), cudaMemcpyDeviceToHost));
  std::printf("cluster.sync() of 7 blocks x 256 threads: %.0f cycles (block 0; block 6: %.0f)\n", host[0], host[6]);
  logreg::kernels::launch_kernel("dsmem_latency_bench_kernel", dsmem_latency_bench_kernel,
                                 logreg::kernels::clustered(LaunchShape{2, 256, 4096}, 2), nullptr, iterations,
                                 cycles.data());
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(host, cycles.data(), sizeof(double), cudaMemcpyDeviceToHost));
  std::printf("dependent distributed-shared-memory load from a peer block: %.0f cycles\n", host[0]);
}
#endif

int run(int argc, char** argv) {
  bool validate_only = false;
  for (int i = 1; i < argc; ++i) validate_only = validate_only || std::string(argv[i]) == "--validate-only";
  const logreg::CudaProbe probe = logreg::probe_cuda();
  if (!probe.usable) {
    std::printf("no usable CUDA device: %s\n", probe.reason.c_str());
    return 1;
  }
  std::printf("device: %s\n", probe.device_name.c_str());
  if (probe.emulated) {
    validate_only = true;  // the emulator's timings mean nothing
    setenv("LOGREG_EMU_SMS", "132", 0);  // room for a cluster of 7 blocks (one multiprocessor by default)
  }
  const std::uint32_t set_rows = validate_only ? kValidateRows : kSetRows;
  Lab lab(set_rows);
  const logreg::Model model = logreg::init_model(kDim, kClasses, logreg::LossHead::kSoftmax, 3);
  lab.initial = model.weights;
  lab.initial.insert(lab.initial.end(), model.bias.begin(), model.bias.end());
  lab.d_order = DeviceBuffer<std::uint32_t>(set_rows);
  lab.d_params = DeviceBuffer<float>(lab.initial.size());
  lab.d_velocity = DeviceBuffer<float>(lab.initial.size());
  lab.d_state = DeviceBuffer<DeviceStepState>(1);
  lab.d_totals = DeviceBuffer<DeviceTotals>(1);

  // Which versions this device runs: the cluster ones where plan_cluster_epoch says so, the persistent one at
  // batch 32.
  std::vector<Version> versions;
  if (logreg::cuda::plan_cluster_epoch(256, kDim, kClasses, true).runs()) {
    versions.push_back(Version::kClusterSync);
    versions.push_back(Version::kMbarrier);
  } else {
    std::printf("no cluster version on this device: %s\n",
                logreg::cuda::plan_cluster_epoch(256, kDim, kClasses, true).refusal.c_str());
  }
  versions.push_back(Version::kPersistent);

  // 1. Validate before timing anything.
  bool all_ok = true;
  for (Version v : versions) {
    for (int batch : {32, 256}) {
      if (v == Version::kPersistent && batch > 32) continue;
      for (bool momentum : {false, true}) {
        std::printf("validate %-30s B=%-4d %-9s\n", version_name(v), batch, momentum ? "momentum" : "sgd");
        const bool ok = validate(lab, v, batch, momentum, probe.emulated);
        std::printf("    %s\n", ok ? "OK" : "FAILED");
        all_ok = all_ok && ok;
      }
    }
  }
  if (const std::optional<int> code = logreg::lab::exit_before_timing(all_ok, validate_only)) return *code;

  // 2. Time every version at batch 32 and 256 (60,000 rows: 1,875 and 235 steps).
  logreg::cuda::CudaStream stream;
  std::printf("\n%-6s %-32s %14s %10s\n", "batch", "version", "ms/epoch", "us/step");
  for (int batch : {32, 256}) {
    for (Version v : versions) {
      if (v == Version::kPersistent && batch > 32) continue;
      const double ms = time_epochs(lab, v, batch, stream.get());
      const double steps = static_cast<double>((kSetRows + batch - 1) / batch);
      std::printf("%-6d %-32s %14.3f %10.2f\n", batch, version_name(v), ms, 1e3 * ms / steps);
      if (v != Version::kPersistent) {
        const std::vector<double> c = phase_cycles_per_step(lab, v, batch, stream.get());
        std::printf("       phases, cycles per step: forward+stores %.0f, exchange %.0f, loss %.0f, update %.0f, "
                    "copy wait %.0f\n", c[0], c[1], c[2], c[3], c[4]);
      }
    }
  }
#if !defined(LOGREG_CUDA_EMULATED)
  if (versions.front() != Version::kPersistent) micro_benchmarks();
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_lab_cluster_epoch: %s\n", e.what());
    return 1;
  }
}
