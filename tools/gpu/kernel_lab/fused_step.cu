/*
Kernel lab: one whole small-batch SGD step of Linear(D -> C) logistic regression in ONE kernel, without
cuBLAS, reading the uint8 pixels of a device-resident training set directly through the batch's row
indices: forward z = x·Wᵀ + b, per-row loss and dloss/dz (loss_grad_row, every head), db, dW = dzᵀ·x and
the SGD update (sgd_param_step: momentum, Nesterov, weight decay), all on one SM. Lab only: it is NOT
wired into the trainer; it goes into kernels/ only if a GPU run shows it beating the cuBLAS path
(written in a session without a GPU, so nothing here has been run yet).

Build (the target is EXCLUDE_FROM_ALL; tools/gpu_prepare.sh builds it, tools/gpu_run.sh runs it):
  cmake --build build --target kernel_lab_fused_step
Run:
  build/kernel_lab_fused_step        # validate every version at B = 32 and 256, then time them
  build/kernel_lab_fused_step 2      # version 2 only (the cuBLAS path is timed in every case)
  build/kernel_lab_fused_step --validate-only   # what CI runs on the emulated device (never times there)

version 1: one block of 256 threads. Forward: row by row, threads stride over D with scalar uint8 and
           float loads, 10 partial logits per thread, warp shuffles then shared memory per row (two
           barriers per row). Backward: threads stride over D, each sums all C classes over the B rows.
version 2: one block of 1024 threads, W (C x D floats, 31 KB) staged in shared memory with float4 loads.
           Forward: one warp per row, lanes over D/4 with uchar4 pixel loads and float4 shared loads,
           C accumulators per lane reduced with shuffles (no barrier per row). Backward + update: one
           thread per (4 pixels, 2 classes) pair, uchar4 loads, float4 read-modify-write of W and velocity.
           uint8 -> float through a 256-entry shared table of pixel_to_unit<float> (the same values, without
           an IEEE division per pixel: version 1's PTX has one div.rn.f32 per pixel load).
cuBLAS path: the backend's own step (gather kernel, 2 cuBLAS GEMMs, loss kernel, update kernel), timed
           as train_epoch over S batches: device-resident with CUDA graphs, without, and streamed.

Every version is validated against logreg::reference_sgd_step (double accumulation) at every batch size
and loss head, plain SGD and momentum + Nesterov + weight decay, BEFORE any timing:
|ref - x| <= 1e-5 + 1e-4 |ref| on the updated W, b (and velocity), and the loss sum and correct count.
Timing: warm-up, then 21 repeats of 200 back-to-back steps between CUDA events, median µs per step; the
batches walk a shuffled order over 60000 random 28x28 images (47 MB: about the H100's L2, so mostly
L2-resident, as MNIST is in the trainer).
*/
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "device_resources.hpp"
#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/model.hpp"
#include "logreg/rng.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/sgd_math.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "lab_harness.hpp"

using logreg::LossHead;
using logreg::OptimizerConfig;
using logreg::cuda::DeviceBuffer;
using logreg::kernels::DeviceTotals;
using logreg::kernels::RowOutcome;

constexpr int kClasses = 10;  // C, a compile-time constant so the per-class accumulators stay in registers
constexpr int kSide = 28;
constexpr int kDim = kSide * kSide;  // D; version 2 needs D % 4 == 0
constexpr std::uint32_t kSetRows = 60000;

// ----------------------------------------------------------------------------------------------------
// CPU code reference

// The reference step on the gathered batch: x (B, D) = pixels[rows] / 255, y = labels[rows].
logreg::Totals cpu_reference_step(logreg::Model& model, const std::vector<std::uint8_t>& pixels,
                                  const std::vector<std::uint8_t>& labels, const std::uint32_t* rows, int batch,
                                  float lr, const OptimizerConfig& opt, float* velocity) {
  std::vector<float> x(static_cast<std::size_t>(batch) * kDim);
  std::vector<std::uint8_t> y(static_cast<std::size_t>(batch));
  for (int i = 0; i < batch; ++i) {
    const std::uint8_t* img = pixels.data() + static_cast<std::size_t>(rows[i]) * kDim;
    for (int d = 0; d < kDim; ++d) x[static_cast<std::size_t>(i) * kDim + d] = logreg::pixel_to_unit<float>(img[d]);
    y[static_cast<std::size_t>(i)] = labels[rows[i]];
  }
  return logreg::reference_sgd_step(model, x.data(), y.data(), batch, lr, nullptr, nullptr, nullptr, nullptr, opt,
                                    velocity);
}

// ----------------------------------------------------------------------------------------------------
// GPU kernels

struct FusedStepArgs {
  const std::uint8_t* pixels;  // (N, D) the training set, uint8 row-major
  const std::uint8_t* labels;  // (N)
  const std::uint32_t* rows;   // (B) the batch's rows of the set
  int batch;                   // B
  int dim;                     // D
  LossHead head;
  float scale;                 // 1 / B
  float* params;               // (C*D + C) weights (C, D) row-major, then bias; updated in place
  float* velocity;             // (C*D + C) momentum buffers, or nullptr
  float lr, momentum, weight_decay;
  bool nesterov;
  DeviceTotals* totals;        // (1) loss sum and correct count of the batch (overwritten)
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Loss and correct count of rows t, t + threads, ... (bias added into s_z in place, dz into s_dz), then a
// fixed-pairing tree over the block; thread 0 writes the totals. Every thread must call it.
template <int kThreads>
__device__ void block_loss_grad(const FusedStepArgs& a, const float* bias, const std::uint8_t* s_y, float* s_z,
                                float* s_dz, double* s_loss, int* s_correct) {
  const int t = static_cast<int>(threadIdx.x);
  double loss = 0.0;
  int correct = 0;
  for (int i = t; i < a.batch; i += kThreads) {
    const RowOutcome r = logreg::kernels::loss_grad_row(i, a.head, s_z, bias, s_y, kClasses, a.scale, s_z, s_dz);
    loss += static_cast<double>(r.loss);
    correct += r.correct;
  }
  s_loss[t] = loss;
  s_correct[t] = correct;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (t < stride) {
      s_loss[t] += s_loss[t + stride];
      s_correct[t] += s_correct[t + stride];
    }
    __syncthreads();
  }
  if (t == 0) {
    a.totals->loss_sum = s_loss[0];
    a.totals->last_batch_loss_sum = s_loss[0];
    a.totals->correct = static_cast<unsigned long long>(s_correct[0]);
  }
}

// Bias of class t < C: db = sum over rows of dz (fixed order), then its SGD step (no weight decay). Called
// after block_loss_grad's barriers, so every read of the old bias is done.
__device__ void update_bias(const FusedStepArgs& a, const float* s_dz) {
  const int t = static_cast<int>(threadIdx.x);
  if (t >= kClasses) return;
  double db = 0.0;
  for (int i = 0; i < a.batch; ++i) db += static_cast<double>(s_dz[i * kClasses + t]);
  const std::size_t j = static_cast<std::size_t>(kClasses) * a.dim + t;
  a.params[j] = logreg::sgd_param_step<float>(a.params[j], static_cast<float>(db),
                                              a.velocity == nullptr ? nullptr : a.velocity + j, a.lr, a.momentum,
                                              0.0f, a.nesterov);
}

// ---- version 1 ----

constexpr int kV1Threads = 256;

std::size_t v1_shared_bytes(int batch) {
  return 2 * static_cast<std::size_t>(batch) * kClasses * sizeof(float) + static_cast<std::size_t>(batch);
}

__global__ void __launch_bounds__(kV1Threads) fused_step_v1(FusedStepArgs a) {
  LOGREG_DYNAMIC_SHARED(float, v1_smem);
  float* s_z = v1_smem;                                                            // (B, C)
  float* s_dz = v1_smem + a.batch * kClasses;                                      // (B, C)
  std::uint8_t* s_y = reinterpret_cast<std::uint8_t*>(s_dz + a.batch * kClasses);  // (B)
  __shared__ float s_part[kV1Threads / 32][kClasses];
  __shared__ double s_loss[kV1Threads];
  __shared__ int s_correct[kV1Threads];
  const int t = static_cast<int>(threadIdx.x);
  const int lane = t % 32;
  const int warp = t / 32;
  const int D = a.dim;
  float* w = a.params;
  const float* bias = a.params + static_cast<std::size_t>(kClasses) * D;
  for (int i = t; i < a.batch; i += kV1Threads) s_y[i] = a.labels[a.rows[i]];

  // 1. Forward, one row at a time: z[i, c] = sum_d x[i, d] W[c, d].
  for (int i = 0; i < a.batch; ++i) {
    const std::uint8_t* x = a.pixels + static_cast<std::size_t>(a.rows[i]) * D;
    float acc[kClasses];
#pragma unroll
    for (int c = 0; c < kClasses; ++c) acc[c] = 0.0f;
    for (int d = t; d < D; d += kV1Threads) {
      const float xv = logreg::pixel_to_unit<float>(x[d]);
#pragma unroll
      for (int c = 0; c < kClasses; ++c) acc[c] += xv * w[c * D + d];
    }
#pragma unroll
    for (int c = 0; c < kClasses; ++c) acc[c] = warp_sum(acc[c]);
    if (lane == 0) {
#pragma unroll
      for (int c = 0; c < kClasses; ++c) s_part[warp][c] = acc[c];
    }
    __syncthreads();
    if (t < kClasses) {
      float s = 0.0f;
      for (int q = 0; q < kV1Threads / 32; ++q) s += s_part[q][t];
      s_z[i * kClasses + t] = s;
    }
    __syncthreads();
  }

  // 2. Loss, dz, totals (barriers inside: W and the bias are no longer read after this).
  block_loss_grad<kV1Threads>(a, bias, s_y, s_z, s_dz, s_loss, s_correct);

  // 3. dW[c, d] = sum_i dz[i, c] x[i, d] and the update, threads over d.
  for (int d = t; d < D; d += kV1Threads) {
    float g[kClasses];
#pragma unroll
    for (int c = 0; c < kClasses; ++c) g[c] = 0.0f;
    for (int i = 0; i < a.batch; ++i) {
      const float xv = logreg::pixel_to_unit<float>(a.pixels[static_cast<std::size_t>(a.rows[i]) * D + d]);
#pragma unroll
      for (int c = 0; c < kClasses; ++c) g[c] += s_dz[i * kClasses + c] * xv;
    }
#pragma unroll
    for (int c = 0; c < kClasses; ++c) {
      const std::size_t j = static_cast<std::size_t>(c) * D + d;
      w[j] = logreg::sgd_param_step<float>(w[j], g[c], a.velocity == nullptr ? nullptr : a.velocity + j, a.lr,
                                           a.momentum, a.weight_decay, a.nesterov);
    }
  }
  update_bias(a, s_dz);
}

// ---- version 2 ----

constexpr int kV2Threads = 1024;

// Dynamic shared memory of version 2, each part 16-byte aligned.
struct V2Layout {
  std::size_t w, z, dz, loss, correct, unit, y, bytes;
};

__host__ __device__ inline std::size_t align16(std::size_t n) { return (n + 15) / 16 * 16; }

__host__ __device__ inline V2Layout v2_layout(int batch, int dim) {
  V2Layout l{};
  l.w = 0;
  l.z = align16(l.w + static_cast<std::size_t>(kClasses) * dim * sizeof(float));
  l.dz = align16(l.z + static_cast<std::size_t>(batch) * kClasses * sizeof(float));
  l.loss = align16(l.dz + static_cast<std::size_t>(batch) * kClasses * sizeof(float));
  l.correct = align16(l.loss + kV2Threads * sizeof(double));
  l.unit = align16(l.correct + kV2Threads * sizeof(int));
  l.y = align16(l.unit + 256 * sizeof(float));
  l.bytes = align16(l.y + static_cast<std::size_t>(batch));
  return l;
}

__global__ void __launch_bounds__(kV2Threads) fused_step_v2(FusedStepArgs a) {
  LOGREG_DYNAMIC_SHARED(unsigned char, v2_smem);
  const V2Layout l = v2_layout(a.batch, a.dim);
  float* s_w = reinterpret_cast<float*>(v2_smem + l.w);                    // (C, D) copy of W
  float* s_z = reinterpret_cast<float*>(v2_smem + l.z);                    // (B, C)
  float* s_dz = reinterpret_cast<float*>(v2_smem + l.dz);                  // (B, C)
  double* s_loss = reinterpret_cast<double*>(v2_smem + l.loss);            // (threads)
  int* s_correct = reinterpret_cast<int*>(v2_smem + l.correct);            // (threads)
  float* s_unit = reinterpret_cast<float*>(v2_smem + l.unit);              // (256) pixel_to_unit<float>(p)
  std::uint8_t* s_y = v2_smem + l.y;                                       // (B)
  const int t = static_cast<int>(threadIdx.x);
  const int lane = t % 32;
  const int warp = t / 32;
  const int D = a.dim;
  const int quads = D / 4;
  const float* bias = a.params + static_cast<std::size_t>(kClasses) * D;

  // 1. Stage W in shared memory (float4), gather the labels.
  const float4* w4 = reinterpret_cast<const float4*>(a.params);
  float4* s_w4 = reinterpret_cast<float4*>(s_w);
  for (int q = t; q < kClasses * quads; q += kV2Threads) s_w4[q] = w4[q];
  for (int i = t; i < a.batch; i += kV2Threads) s_y[i] = a.labels[a.rows[i]];
  if (t < 256) s_unit[t] = logreg::pixel_to_unit<float>(static_cast<std::uint8_t>(t));
  __syncthreads();

  // 2. Forward: warp per row, lanes over groups of 4 pixels.
  for (int i = warp; i < a.batch; i += kV2Threads / 32) {
    const uchar4* x4 = reinterpret_cast<const uchar4*>(a.pixels + static_cast<std::size_t>(a.rows[i]) * D);
    float acc[kClasses];
#pragma unroll
    for (int c = 0; c < kClasses; ++c) acc[c] = 0.0f;
    for (int q = lane; q < quads; q += 32) {
      const uchar4 p = x4[q];
      const float x0 = s_unit[p.x];
      const float x1 = s_unit[p.y];
      const float x2 = s_unit[p.z];
      const float x3 = s_unit[p.w];
#pragma unroll
      for (int c = 0; c < kClasses; ++c) {
        const float4 wv = s_w4[c * quads + q];
        acc[c] += x0 * wv.x + x1 * wv.y + x2 * wv.z + x3 * wv.w;
      }
    }
#pragma unroll
    for (int c = 0; c < kClasses; ++c) acc[c] = warp_sum(acc[c]);
    if (lane == 0) {
#pragma unroll
      for (int c = 0; c < kClasses; ++c) s_z[i * kClasses + c] = acc[c];
    }
  }
  __syncthreads();

  // 3. Loss, dz, totals.
  block_loss_grad<kV2Threads>(a, bias, s_y, s_z, s_dz, s_loss, s_correct);

  // 4. Backward + update: thread per (quad q, class pair cg); consecutive threads take consecutive quads,
  //    so the uchar4 loads of a row are coalesced and the dz reads are broadcasts.
  constexpr int kPairs = (kClasses + 1) / 2;
  float4* p4 = reinterpret_cast<float4*>(a.params);
  float4* v4 = reinterpret_cast<float4*>(a.velocity);
  for (int item = t; item < quads * kPairs; item += kV2Threads) {
    const int q = item % quads;
    const int c0 = 2 * (item / quads);
    const int c1 = c0 + 1;
    const bool has_c1 = c1 < kClasses;
    float4 g0 = make_float4(0.f, 0.f, 0.f, 0.f);
    float4 g1 = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
    for (int i = 0; i < a.batch; ++i) {
      const uchar4 p = reinterpret_cast<const uchar4*>(a.pixels + static_cast<std::size_t>(a.rows[i]) * D)[q];
      const float x0 = s_unit[p.x];
      const float x1 = s_unit[p.y];
      const float x2 = s_unit[p.z];
      const float x3 = s_unit[p.w];
      const float d0 = s_dz[i * kClasses + c0];
      const float d1 = has_c1 ? s_dz[i * kClasses + c1] : 0.0f;
      g0.x += d0 * x0; g0.y += d0 * x1; g0.z += d0 * x2; g0.w += d0 * x3;
      g1.x += d1 * x0; g1.y += d1 * x1; g1.z += d1 * x2; g1.w += d1 * x3;
    }
    for (int k = 0; k < (has_c1 ? 2 : 1); ++k) {
      const int c = k == 0 ? c0 : c1;
      const float4 g = k == 0 ? g0 : g1;
      const int idx = c * quads + q;  // float4 index of W[c, 4q .. 4q + 3]
      const float4 w_old = s_w4[idx];
      float4 v = a.velocity != nullptr ? v4[idx] : make_float4(0.f, 0.f, 0.f, 0.f);
      float* vp = a.velocity != nullptr ? &v.x : nullptr;
      float4 w_new;
      w_new.x = logreg::sgd_param_step<float>(w_old.x, g.x, vp, a.lr, a.momentum, a.weight_decay, a.nesterov);
      w_new.y = logreg::sgd_param_step<float>(w_old.y, g.y, vp ? vp + 1 : nullptr, a.lr, a.momentum, a.weight_decay, a.nesterov);
      w_new.z = logreg::sgd_param_step<float>(w_old.z, g.z, vp ? vp + 2 : nullptr, a.lr, a.momentum, a.weight_decay, a.nesterov);
      w_new.w = logreg::sgd_param_step<float>(w_old.w, g.w, vp ? vp + 3 : nullptr, a.lr, a.momentum, a.weight_decay, a.nesterov);
      p4[idx] = w_new;
      if (a.velocity != nullptr) v4[idx] = v;
    }
  }
  update_bias(a, s_dz);
}

// ----------------------------------------------------------------------------------------------------
// kernel launcher

void fused_step(int version, const FusedStepArgs& a, cudaStream_t stream) {
  switch (version) {
    case 1:
      logreg::kernels::launch_kernel(
          "fused_step_v1", fused_step_v1,
          logreg::kernels::LaunchShape{1, static_cast<unsigned>(kV1Threads), v1_shared_bytes(a.batch), kV1Threads}, stream,
          a);
      return;
    case 2:
      logreg::kernels::launch_kernel(
          "fused_step_v2", fused_step_v2,
          logreg::kernels::LaunchShape{1, static_cast<unsigned>(kV2Threads), v2_layout(a.batch, a.dim).bytes, kV2Threads},
          stream, a);
      return;
    default:
      throw std::runtime_error("no fused_step version " + std::to_string(version));
  }
}

// Raises the dynamic shared-memory limit of each version to what `max_batch` needs.
void configure_kernels(int max_batch) {
  CUDA_CHECK(cudaFuncSetAttribute(fused_step_v1, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(v1_shared_bytes(max_batch))));
  CUDA_CHECK(cudaFuncSetAttribute(fused_step_v2, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(v2_layout(max_batch, kDim).bytes)));
}

// ----------------------------------------------------------------------------------------------------
// validation and timing helpers

// |ref - x| <= atol + rtol |ref| for every element, x finite; prints the worst element when it fails.
bool all_close(const char* what, const std::vector<float>& ref, const std::vector<float>& x, double atol, double rtol) {
  std::size_t worst = 0;
  double worst_excess = -1.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i];
    const double v = x[i];
    if (!std::isfinite(v)) {
      std::printf("    %s: non-finite value at %zu\n", what, i);
      return false;
    }
    const double excess = std::fabs(r - v) - (atol + rtol * std::fabs(r));
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (worst_excess > 0.0) {
    std::printf("    %s: worst element %zu of %zu: ref=%.9g x=%.9g\n", what, worst, ref.size(),
                static_cast<double>(ref[worst]), static_cast<double>(x[worst]));
    return false;
  }
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Lab : logreg::lab::RandomSet {
  explicit Lab(std::uint32_t rows) : RandomSet(rows, kDim, kClasses) {}
  std::vector<std::uint32_t> order;  // a shuffled order over the set
  DeviceBuffer<std::uint32_t> d_order;
  DeviceBuffer<float> d_params, d_velocity;
  DeviceBuffer<DeviceTotals> d_totals;
  logreg::cuda::CudaStream stream;
};

FusedStepArgs make_args(Lab& lab, int batch, std::size_t first, LossHead head, float lr, const OptimizerConfig& opt) {
  FusedStepArgs a{};
  a.pixels = lab.d_pixels.data();
  a.labels = lab.d_labels.data();
  a.rows = lab.d_order.data() + first;
  a.batch = batch;
  a.dim = kDim;
  a.head = head;
  a.scale = 1.0f / static_cast<float>(batch);
  a.params = lab.d_params.data();
  a.velocity = opt.momentum != 0.0f ? lab.d_velocity.data() : nullptr;
  a.lr = lr;
  a.momentum = opt.momentum;
  a.weight_decay = opt.weight_decay;
  a.nesterov = opt.nesterov;
  a.totals = lab.d_totals.data();
  return a;
}

void upload_params(Lab& lab, const logreg::Model& m, const std::vector<float>& velocity) {
  std::vector<float> p(m.weights);
  p.insert(p.end(), m.bias.begin(), m.bias.end());
  CUDA_CHECK(cudaMemcpy(lab.d_params.data(), p.data(), p.size() * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(lab.d_velocity.data(), velocity.data(), velocity.size() * sizeof(float), cudaMemcpyHostToDevice));
}

// One step of `version` from `initial` on the batch at order[0, B) against the reference.
bool validate(Lab& lab, int version, int batch, LossHead head, const OptimizerConfig& opt) {
  const logreg::Model initial = logreg::init_model(kDim, kClasses, head, 11);
  const std::size_t n = static_cast<std::size_t>(kClasses) * kDim + kClasses;
  std::vector<float> v0(n);
  logreg::Rng rng(12, 1);
  for (auto& v : v0) v = opt.momentum != 0.0f ? static_cast<float>(0.01 * (rng.unit() - 0.5)) : 0.0f;
  const float lr = 0.5f;  // large, so a wrong gradient moves W beyond the tolerance
  upload_params(lab, initial, v0);
  fused_step(version, make_args(lab, batch, 0, head, lr, opt), lab.stream.get());
  std::vector<float> got(n), got_v(n);
  DeviceTotals totals{};
  CUDA_CHECK(cudaMemcpyAsync(got.data(), lab.d_params.data(), n * sizeof(float), cudaMemcpyDeviceToHost, lab.stream.get()));
  CUDA_CHECK(cudaMemcpyAsync(got_v.data(), lab.d_velocity.data(), n * sizeof(float), cudaMemcpyDeviceToHost, lab.stream.get()));
  CUDA_CHECK(cudaMemcpyAsync(&totals, lab.d_totals.data(), sizeof totals, cudaMemcpyDeviceToHost, lab.stream.get()));
  lab.stream.synchronize();

  logreg::Model ref = initial;
  std::vector<float> ref_v = v0;
  const logreg::Totals want = cpu_reference_step(ref, lab.pixels, lab.labels, lab.order.data(), batch, lr, opt,
                                                 opt.momentum != 0.0f ? ref_v.data() : nullptr);
  const std::vector<float> got_w(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(ref.weights.size()));
  const std::vector<float> got_b(got.begin() + static_cast<std::ptrdiff_t>(ref.weights.size()), got.end());
  bool ok = all_close("updated W", ref.weights, got_w, 1e-5, 1e-4);
  ok = all_close("updated b", ref.bias, got_b, 1e-5, 1e-4) && ok;
  if (opt.momentum != 0.0f) ok = all_close("velocity", ref_v, got_v, 1e-5, 1e-4) && ok;
  if (static_cast<std::int64_t>(totals.correct) != want.correct) {
    std::printf("    correct: %llu, reference %lld\n", totals.correct, static_cast<long long>(want.correct));
    ok = false;
  }
  if (std::fabs(totals.loss_sum - want.loss_sum) > 1e-5 + 1e-5 * std::fabs(want.loss_sum)) {
    std::printf("    loss sum: %.9g, reference %.9g\n", totals.loss_sum, want.loss_sum);
    ok = false;
  }
  return ok;
}

constexpr int kTimedSteps = 200;
constexpr int kRepeats = 21;

// Device-to-device copy bandwidth in bytes/s (read + write counted), the median of 5 copies of 1 GiB:
// the denominator of the bandwidth floor below and of BENCHMARKS.md's bound.
double measure_copy_bandwidth(cudaStream_t stream) {
  const std::size_t bytes = std::size_t{1} << 30;
  logreg::cuda::DeviceBuffer<std::uint8_t> src(bytes), dst(bytes);
  CUDA_CHECK(cudaMemsetAsync(src.data(), 1, bytes, stream));
  CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream));  // warm-up
  logreg::cuda::CudaEvent start(true), stop(true);
  std::vector<double> rates;
  for (int r = 0; r < 5; ++r) {
    start.record(stream);
    CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream));
    stop.record(stream);
    stop.synchronize();
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    rates.push_back(2.0 * static_cast<double>(bytes) / (ms * 1e-3));
  }
  return median(rates);
}

// Median µs per step of `version` over back-to-back launches (the weights keep training, lr small).
double time_fused(Lab& lab, int version, int batch) {
  const logreg::Model initial = logreg::init_model(kDim, kClasses, LossHead::kSoftmax, 21);
  upload_params(lab, initial, std::vector<float>(initial.weights.size() + initial.bias.size(), 0.0f));
  const std::size_t batches_in_order = lab.order.size() / static_cast<std::size_t>(batch);
  std::size_t next = 0;
  auto step = [&] {
    const std::size_t first = (next++ % batches_in_order) * static_cast<std::size_t>(batch);
    fused_step(version, make_args(lab, batch, first, LossHead::kSoftmax, 1e-3f, {}), lab.stream.get());
  };
  for (int s = 0; s < 50; ++s) step();  // warm-up
  logreg::cuda::CudaEvent start(true), stop(true);
  std::vector<double> us;
  for (int r = 0; r < kRepeats; ++r) {
    start.record(lab.stream.get());
    for (int s = 0; s < kTimedSteps; ++s) step();
    stop.record(lab.stream.get());
    stop.synchronize();
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    us.push_back(1000.0 * ms / kTimedSteps);
  }
  return median(us);
}

// Median µs per step of the backend's cuBLAS path: train_epoch over kTimedSteps batches (one order upload
// and one read-back per call, amortised over the steps), host-timed (train_epoch synchronises).
double time_backend(const logreg::ImageSet& images, const logreg::LabelSet& labels, int batch,
                    const logreg::CudaOptions& options, std::string* name) {
  const logreg::Model initial = logreg::init_model(kDim, kClasses, LossHead::kSoftmax, 21);
  auto backend = logreg::make_cuda_backend(images, labels, initial, options);
  *name = backend->name();
  const std::size_t steps = std::min<std::size_t>(kTimedSteps, kSetRows / static_cast<std::size_t>(batch));
  const std::vector<std::uint32_t> all = logreg::epoch_order(31, 1, kSetRows);
  const std::vector<std::uint32_t> slice(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(steps * batch));
  for (int w = 0; w < 2; ++w) backend->train_epoch(slice, batch, 1e-3f);  // warm-up (and graph capture)
  std::vector<double> us;
  for (int r = 0; r < 11; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    backend->train_epoch(slice, batch, 1e-3f);
    const auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(steps));
  }
  return median(us);
}

// ----------------------------------------------------------------------------------------------------

int run(int argc, char** argv) {
  int only = 0;
  bool validate_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--validate-only") {
      validate_only = true;
    } else {
      only = std::atoi(argv[i]);
    }
  }
  const int versions[] = {1, 2};
  std::vector<int> batches = {32, 256};
  const logreg::CudaProbe probe = logreg::probe_cuda();
  if (!probe.usable) {
    std::printf("no usable CUDA device: %s\n", probe.reason.c_str());
    return 1;
  }
  std::printf("device: %s\n", probe.device_name.c_str());
  if (probe.emulated) validate_only = true;  // the emulator's timings mean nothing
  // The sanitizer stage (LOGREG_TEST_SIZE=small) validates B = 32 alone: the same code, an eighth of the work.
  const char* size = std::getenv("LOGREG_TEST_SIZE");
  if (validate_only && size != nullptr && std::string(size) == "small") batches = {32};

  // A random training set of MNIST's shape, uploaded once (validation reads one batch of it: a smaller set).
  const std::uint32_t set_rows = validate_only ? 4096 : kSetRows;
  Lab lab(set_rows);
  lab.order = logreg::epoch_order(3, 1, set_rows);
  lab.d_order = DeviceBuffer<std::uint32_t>(lab.order.size());
  lab.d_params = DeviceBuffer<float>(static_cast<std::size_t>(kClasses) * kDim + kClasses);
  lab.d_velocity = DeviceBuffer<float>(lab.d_params.size());
  lab.d_totals = DeviceBuffer<DeviceTotals>(1);
  CUDA_CHECK(cudaMemcpy(lab.d_order.data(), lab.order.data(), lab.order.size() * sizeof(std::uint32_t),
                        cudaMemcpyHostToDevice));
  configure_kernels(256);

  // 1. Validate every version at every batch size, head and optimiser before timing anything.
  OptimizerConfig momentum;
  momentum.momentum = 0.9f;
  momentum.nesterov = true;
  momentum.weight_decay = 1e-3f;
  bool all_ok = true;
  for (int version : versions) {
    if (only != 0 && version != only) continue;
    for (int batch : batches) {
      for (LossHead head : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
        for (int o = 0; o < 2; ++o) {
          const bool ok = validate(lab, version, batch, head, o == 0 ? OptimizerConfig{} : momentum);
          std::printf("validate v%d B=%-4d %-16s %-9s %s\n", version, batch, logreg::loss_head_name(head),
                      o == 0 ? "sgd" : "momentum", ok ? "OK" : "FAILED");
          all_ok = all_ok && ok;
        }
      }
    }
  }
  if (const std::optional<int> code = logreg::lab::exit_before_timing(all_ok, validate_only)) return *code;

  // 2. Time: the fused versions, then the backend's cuBLAS path on the same set.
  logreg::ImageSet images;
  images.count = kSetRows;
  images.rows = kSide;
  images.cols = kSide;
  images.pixels = lab.pixels;
  logreg::LabelSet labels;
  labels.labels = lab.labels;
  struct Row {
    int batch;
    std::string what;
    double us;
  };
  std::vector<Row> table;
  for (int batch : batches) {
    for (int version : versions) {
      if (only != 0 && version != only) continue;
      table.push_back({batch, "v" + std::to_string(version) + " fused, one kernel", time_fused(lab, version, batch)});
    }
    struct PathOption {
      const char* label;
      logreg::Residency residency;
      bool graphs;
    };
    for (const PathOption& p : {PathOption{"cuBLAS path, device + graphs", logreg::Residency::kDevice, true},
                                PathOption{"cuBLAS path, device, no graphs", logreg::Residency::kDevice, false},
                                PathOption{"cuBLAS path, streamed", logreg::Residency::kStream, true}}) {
      logreg::CudaOptions options;
      options.residency = p.residency;
      options.cuda_graphs = p.graphs;
      std::string name;
      const double us = time_backend(images, labels, batch, options, &name);
      table.push_back({batch, p.label, us});
    }
  }

  // Floor: each step must read the batch's pixels and read + write W and b once (no velocity).
  const double copy_bw = measure_copy_bandwidth(lab.stream.get());
  std::printf("\ndevice-to-device copy bandwidth: %.0f GB/s (1 GiB cudaMemcpyAsync, read + write bytes)\n",
              copy_bw / 1e9);
  std::printf("\n%-6s %-34s %12s %14s %12s\n", "batch", "version", "us/step", "rows/s", "floor us");
  for (const Row& r : table) {
    const double bytes = static_cast<double>(r.batch) * kDim + 2.0 * (kClasses * kDim + kClasses) * sizeof(float);
    const double floor_us = bytes / copy_bw * 1e6;
    std::printf("%-6d %-34s %12.2f %14.0f %12.3f\n", r.batch, r.what.c_str(), r.us, r.batch / (r.us * 1e-6),
                floor_us);
  }
  std::printf("(the floor is bandwidth only; at these sizes launch and barrier latency dominate)\n");
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_lab_fused_step: %s\n", e.what());
    return 1;
  }
}
