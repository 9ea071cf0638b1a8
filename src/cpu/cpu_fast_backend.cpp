// The fast CPU backend (`--device cpu`): float32 mini-batch SGD straight from the uint8 pixels, SIMD loops
// compiled for AVX-512, AVX2+FMA and SSE2 (chosen at run time) and a small persistent thread team. The loss
// rows, the bias gradient and the update are the CUDA kernels' bodies (kernels/step_bodies.hpp); not here:
// the host loop (shuffles, epochs, reporting).
//
// The pixel columns are cut into kSlices = 2 fixed slices. Step k of an epoch is one team job of two parts;
// part s, on whichever thread claims it:
//   1. finishes step k-1 on the weight columns of slice s: dW[:, s] = (dz/255)ᵀ · P[:, s] over the batch's
//      rows in order (P the uint8 pixels of the rows, read in place: no gather copy), then
//      sgd_update_element on those weights (momentum, Nesterov, decay);
//   2. sums batch k's logits over slice s: Zs = P[:, s] · W[:, s]ᵀ (10 class accumulators in registers,
//      pixels converted to float in the loop, rows 16 ahead prefetched: the rows of a shuffled batch lie
//      scattered over a training set far bigger than the caches).
// The calling thread then adds the slices' sums (in slice order) and divides by 255 once per logit (the
// ToTensor() scaling, folded), runs loss_grad_row per row (bias, loss, dz, correct), keeps dz/255 for the
// next job, and updates the bias (bias_grad_partial/combine, sgd_update_element). One synchronisation per
// step; each thread keeps its half of W and reads only its half of each row.
//
// Determinism: every output element is summed by one part in a fixed order, and which thread runs a part
// changes nothing, so results do not depend on the thread count and reruns are bit-identical. They can
// differ in the last bits between SIMD levels (lane count, FMA).
//
// Measured on the 2-core AMD EPYC (Zen 4, AVX-512) build machine while it was quiet (it is shared with other
// builds, so these are medians of 3 (reference, OpenBLAS) or 6 (these loops) runs x 5 epochs; differences
// under 10% are noise), Fashion-MNIST 60000 x 784, 10 classes, seconds per epoch of training:
//                                               batch 32   batch 256   batch 8192
//   cpu-reference (double sums)                    0.514       0.510        0.511
//   OpenBLAS cblas_sgemm, 1 thread (a)             0.053       0.068        0.101
//   OpenBLAS cblas_sgemm, 2 threads (a)            0.054       0.089        0.130
//   these loops, AVX-512, 1 thread                 0.033       0.030        0.032
//   these loops, AVX-512, 2 threads                0.026       0.021        0.021
//   (these loops at batch 32, 1 thread: AVX2 0.056, SSE2 0.095)
// (a) the batch gathered and converted to float (pixel_to_unit), Z = X·Wᵀ and dW = dZᵀ·X by cblas_sgemm,
// the same loss rows and update. At batch 32 the GEMMs are 32 x 784 x 10: OpenBLAS's call overhead and the
// separate float copy of the batch cost more than the arithmetic. So no OpenBLAS here.
// With another process busy on the second core, sharing a step can lose: a worker that claims a part and is
// then descheduled stalls the step. The steps are therefore timed (ShareChooser) and run on the calling
// thread alone while that is faster; idle workers nap instead of spinning (ThreadTeam). With a fuzzer
// busy on one core, batch 32 took 0.030-0.039 s with 2 threads against 0.032 s with 1 (without the
// chooser, 2 threads were up to 50% slower than 1 under such load).
#include "logreg/cpu_fast.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "logreg/errors.hpp"
#include "step_bodies.hpp"

namespace logreg {
namespace {

constexpr int kClassBlock = 10;  // classes whose accumulators stay in registers together (NC)
constexpr int kPadLanes = 16;    // weight rows are padded to a multiple of the widest vector (AVX-512)
constexpr int kRowBlock = 256;   // rows per backward pass, so that a big batch's rows stay in L2
constexpr int kMinRowsPerThread = 8;  // below this, waking another thread costs more than it saves
constexpr int kEvalRowsPerPart = 64;
constexpr int kSlices = 2;         // column slices of a training step (fixed: results do not depend on threads)
constexpr int kMaxDefaultThreads = kSlices;  // threads = 0: one per slice at most
constexpr int kPrefetchRows = 16;  // how far ahead of the forward the rows of the batch stream are prefetched

constexpr int kMissesBeforeBackoff = 8;  // a worker that found nothing to do in 8 jobs in a row naps between jobs

// ---------------------------------------------------------------------------------------------------
// 64-byte aligned float storage, zero-filled; move-only.
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(std::size_t n) : n_(n) {
    const std::size_t bytes = std::max<std::size_t>(64, (n * sizeof(float) + 63) / 64 * 64);
    p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (p_ == nullptr) throw std::bad_alloc();
    std::memset(p_, 0, bytes);
  }
  ~AlignedFloats() { std::free(p_); }
  AlignedFloats(AlignedFloats&& o) noexcept : n_(o.n_), p_(o.p_) {
    o.n_ = 0;
    o.p_ = nullptr;
  }
  AlignedFloats& operator=(AlignedFloats&& o) noexcept {
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
    return *this;
  }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  float* data() { return p_; }
  const float* data() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_ = 0;
  float* p_ = nullptr;
};

// ---------------------------------------------------------------------------------------------------
// A fixed team of threads that runs one job at a time: job(part) for every part in [0, parts), each part
// exactly once, on the calling thread and on whichever workers are awake to claim parts. A part's result
// does not depend on which thread runs it, so the team may be slow to wake (a busy machine, a worker
// descheduled) without changing anything but the time: the caller then simply runs the parts itself.
// Between jobs the workers spin (SGD steps at batch 32 are microseconds apart), nap instead when they keep
// arriving too late to help, and sleep after 20 ms without a job.
class ThreadTeam {
 public:
  static constexpr int kMaxSize = 256;
  static constexpr int kMaxParts = 0xffff;

  explicit ThreadTeam(int size) : size_(std::clamp(size, 1, kMaxSize)) {
    try {
      for (int t = 1; t < size_; ++t) workers_.emplace_back([this] { work(); });
    } catch (...) {
      shut_down();
      throw;
    }
  }
  ~ThreadTeam() { shut_down(); }
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const { return size_; }

  // Runs job(part) for part in [0, parts) and returns when all have finished; share = false runs them all
  // on the calling thread. job must not throw.
  template <class Job>
  void run(int parts, Job& job, bool share) {
    if (parts <= 0) return;
    if (parts > kMaxParts) throw std::length_error("ThreadTeam::run: more than 65535 parts");
    if (size_ == 1 || parts == 1 || !share) {
      for (int p = 0; p < parts; ++p) job(p);
      return;
    }
    job_ = [](void* ctx, int part) { (*static_cast<Job*>(ctx))(part); };
    ctx_ = &job;
    done_.store(0, std::memory_order_relaxed);
    ++generation_;
    // Releases job_, ctx_ and done_ to every worker whose claim reads this value.
    claim_.store(pack(generation_, parts, 0), std::memory_order_release);
    wake(generation_);
    claim_and_run(generation_);
    for (int spin = 0; done_.load(std::memory_order_acquire) != parts; ++spin) {
      if (spin < 2048) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // a worker holding a part was descheduled
      }
    }
  }

 private:
  // claim_: generation (32 bits) | parts (16) | next unclaimed part (16), so that a late worker can never
  // claim a part of a newer job than the one it woke for.
  static std::uint64_t pack(std::uint64_t generation, int parts, int next) {
    return (generation & 0xffffffffu) << 32 | static_cast<std::uint64_t>(parts) << 16 | static_cast<std::uint64_t>(next);
  }

  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  // Claims and runs parts of job `generation` until none is left; returns how many it ran.
  int claim_and_run(std::uint64_t generation) {
    int ran = 0;
    std::uint64_t c = claim_.load(std::memory_order_acquire);
    for (;;) {
      const int parts = static_cast<int>((c >> 16) & 0xffff);
      const int next = static_cast<int>(c & 0xffff);
      if ((c >> 32) != (generation & 0xffffffffu) || next >= parts) return ran;
      if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        job_(ctx_, next);
        done_.fetch_add(1, std::memory_order_release);
        ++ran;
        c = claim_.load(std::memory_order_acquire);
      }
    }
  }

  // Announces a job (or, with stop_, the end) to the workers, waking those asleep.
  void wake(std::uint64_t generation) {
    announced_.store(generation, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) != 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
    }
  }

  void work() {
    std::uint64_t seen = 0;
    int misses = 0;  // announced jobs in a row in which this worker found no part left to claim
    for (;;) {
      bool slept = false;
      seen = wait_for_job(seen, misses >= kMissesBeforeBackoff, &slept);
      if (stop_.load(std::memory_order_acquire)) return;
      if (slept) misses = 0;  // after a long pause, start eager again
      misses = claim_and_run(seen) > 0 ? 0 : misses + 1;
    }
  }

  // Waits for an announcement newer than `seen` and returns it. Spins (yielding now and then) while it
  // helps; when the caller has been running every part by itself (a busy machine: spinning would only
  // take the CPU from it), naps between looks instead; after a long quiet spell, sleeps until woken.
  std::uint64_t wait_for_job(std::uint64_t seen, bool back_off, bool* slept) {
    using Clock = std::chrono::steady_clock;
    const auto idle_limit = Clock::now() + std::chrono::milliseconds(20);
    for (int spin = 1;; ++spin) {
      const std::uint64_t g = announced_.load(std::memory_order_acquire);
      if (g != seen) return g;
      if (back_off) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      } else {
        cpu_relax();
        if (spin % 64 != 0) continue;
        std::this_thread::yield();
      }
      if (Clock::now() > idle_limit) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] { return announced_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        *slept = true;
        return announced_.load(std::memory_order_acquire);
      }
    }
  }

  void shut_down() {
    if (workers_.empty()) return;
    stop_.store(true, std::memory_order_release);
    wake(++generation_);
    for (std::thread& w : workers_) w.join();
    workers_.clear();
  }

  int size_;
  std::vector<std::thread> workers_;
  std::uint64_t generation_ = 0;  // the caller's count of jobs (only the caller writes it)
  alignas(64) std::atomic<std::uint64_t> claim_{0};
  alignas(64) std::atomic<int> done_{0};
  alignas(64) std::atomic<std::uint64_t> announced_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  void (*job_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
};

// ---------------------------------------------------------------------------------------------------
// SIMD loops. V lanes of float through GCC's vector extensions; each body is compiled into three wrappers
// with different target attributes (AVX-512: V = 16, AVX2+FMA: V = 8, SSE2: V = 4).

template <int V>
struct Lanes {
  typedef float F __attribute__((vector_size(V * sizeof(float))));
  typedef std::int32_t I __attribute__((vector_size(V * sizeof(std::int32_t))));
};

// The bodies below are plain inline templates; each wrapper at the end is `flatten`, so the whole call tree
// is inlined into it and compiled for its target. (always_inline would not do: GCC refuses to inline the
// target-specific pixel loads into the generic template before that reaches the wrapper.) Vectors are passed
// by reference, which keeps GCC's ABI notes (-Wpsabi) about by-value AVX arguments away.

// out = V pixels as floats 0..255 (unscaled). GCC 12 scalarises __builtin_convertvector from uint8, hence
// the zero-extension intrinsics (vpmovzxbd; SSE2: two unpacks with zero).
template <int V>
void load_pixels(const std::uint8_t* p, typename Lanes<V>::F& out);

#if defined(__x86_64__) && defined(__GNUC__)
template <>
__attribute__((target("avx512f"))) inline void load_pixels<16>(const std::uint8_t* p, Lanes<16>::F& out) {
  // maskz with an all-ones mask is the plain vpmovzxbd; the unmasked intrinsic draws -Wmaybe-uninitialized.
  const __m512i wide = _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  out = __builtin_convertvector((Lanes<16>::I)wide, Lanes<16>::F);
}

template <>
__attribute__((target("avx2"))) inline void load_pixels<8>(const std::uint8_t* p, Lanes<8>::F& out) {
  const __m256i wide = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  out = __builtin_convertvector((Lanes<8>::I)wide, Lanes<8>::F);
}
#endif

template <>
inline void load_pixels<4>(const std::uint8_t* p, Lanes<4>::F& out) {
#if defined(__x86_64__) || defined(__i386__)
  std::int32_t four;
  std::memcpy(&four, p, sizeof four);
  const __m128i zero = _mm_setzero_si128();
  const __m128i wide = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(four), zero), zero);
  out = __builtin_convertvector((Lanes<4>::I)wide, Lanes<4>::F);
#else
  out = Lanes<4>::F{static_cast<float>(p[0]), static_cast<float>(p[1]), static_cast<float>(p[2]), static_cast<float>(p[3])};
#endif
}

// The first `count` pixels (none when count <= 0), zeros in the other lanes: the tail of a row.
template <int V>
inline void load_pixels_partial(const std::uint8_t* p, int count, typename Lanes<V>::F& out) {
  std::uint8_t tmp[V] = {};
  if (count > 0) std::memcpy(tmp, p, static_cast<std::size_t>(std::min(count, V)));
  load_pixels<V>(tmp, out);
}

template <int V>
inline void load_floats(const float* p, typename Lanes<V>::F& out) {
  std::memcpy(&out, p, sizeof out);
}

template <int V>
inline void store_floats(float* p, const typename Lanes<V>::F& v) {
  std::memcpy(p, &v, sizeof v);
}

// Lane sums of several vectors at once: out[g] = v[g][0] + ... + v[g][V-1] for g < count, each summed by
// halving (lane l += lane l + h for h = V/2, V/4, ..., 1), with the vectors transposed along the way so that
// every shuffle and add serves several sums: 11 shuffle pairs for 10 vectors of 16 lanes instead of 40.
//
// combine<V, BLK>: a and b each hold V/BLK sums in progress, in blocks of BLK lanes; the result holds the
// 2V/BLK sums (a's, then b's), in blocks of BLK/2 lanes, each block's low half plus its high half.
template <int V, int BLK>
constexpr int combine_low_lane(int j) {
  const int half = BLK / 2;
  const int out_block = j / half;
  const int blocks = V / BLK;  // per input vector
  return (out_block < blocks ? 0 : V) + (out_block % blocks) * BLK + j % half;
}

template <int V, int BLK, int... J>
inline void combine_lanes(const typename Lanes<V>::F& a, const typename Lanes<V>::F& b, typename Lanes<V>::F& out,
                          std::integer_sequence<int, J...>) {
  out = __builtin_shufflevector(a, b, combine_low_lane<V, BLK>(J)...) +
        __builtin_shufflevector(a, b, (combine_low_lane<V, BLK>(J) + BLK / 2)...);
}

// t[0, count) -> t[0, (count + 1) / 2) combined pairwise (a missing partner is zero), down to one vector.
template <int V, int BLK>
inline void reduce_levels(typename Lanes<V>::F* t, int count) {
  using F = typename Lanes<V>::F;
  const int m = (count + 1) / 2;
  for (int i = 0; i < m; ++i) {
    const F b = 2 * i + 1 < count ? t[2 * i + 1] : F{};
    combine_lanes<V, BLK>(t[2 * i], b, t[i], std::make_integer_sequence<int, V>{});
  }
  if constexpr (BLK > 2) reduce_levels<V, BLK / 2>(t, m);
}

// out[g] = the lane sum of v[g] for g < count <= V.
template <int V>
inline void lane_sums(const typename Lanes<V>::F* v, int count, float* out) {
  typename Lanes<V>::F t[V];
  for (int g = 0; g < count; ++g) t[g] = v[g];
  reduce_levels<V, V>(t, count);
  float lanes[V];
  std::memcpy(lanes, &t[0], sizeof lanes);
  for (int g = 0; g < count; ++g) out[g] = lanes[g];
}

// Forward partial sums of R rows over the column chunks [k0, k1) (V columns each) for the classes
// [cb, cb + kClassBlock):  out[r * C + c] = sum_d rows[r][d] * w[c, d] for c < C (pixels 0..255, no bias).
// Each sum is accumulated lane-wise over the chunks in order, then lane-summed: whatever R is.
template <int V, int R>
inline void forward_block(const std::uint8_t* const* rows,  // (R) pixel rows, D each
                          const float* w,                   // (Cpad, Dpad) weights, zero-padded
                          int D,
                          int Dpad,
                          int C,
                          int cb,
                          int k0,
                          int k1,
                          float* out) {                     // (R, C) row-major, stride C
  using F = typename Lanes<V>::F;
  F acc[R][kClassBlock];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < kClassBlock; ++c) acc[r][c] = F{};
  }
  const float* wb = w + static_cast<std::size_t>(cb) * static_cast<std::size_t>(Dpad);
  const int full = D / V * V;
  for (int d = k0 * V; d < k1 * V; d += V) {
    F x[R];
    if (d < full) {
      for (int r = 0; r < R; ++r) load_pixels<V>(rows[r] + d, x[r]);
    } else {
      for (int r = 0; r < R; ++r) load_pixels_partial<V>(rows[r] + d, D - d, x[r]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < kClassBlock; ++c) {
      F wv;
      load_floats<V>(wb + static_cast<std::size_t>(c) * static_cast<std::size_t>(Dpad) + d, wv);
      for (int r = 0; r < R; ++r) acc[r][c] += x[r] * wv;
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < kClassBlock; g += V) {  // groups of at most V classes
      float sums[V];
      const int count = std::min(V, kClassBlock - g);
      lane_sums<V>(acc[r] + g, count, sums);
      for (int c = 0; c < count && cb + g + c < C; ++c) out[static_cast<std::size_t>(r) * C + cb + g + c] = sums[c];
    }
  }
}

// Prefetch (into L2) the bytes [d0, d1) of a pixel row.
inline void prefetch_columns(const std::uint8_t* row, int d0, int d1) {
  for (int d = d0; d < d1; d += 64) __builtin_prefetch(row + d, 0, 2);
  if (d1 > d0) __builtin_prefetch(row + d1 - 1, 0, 2);
}

// out (n, C) = the partial sums of forward_block for rows [0, n) over chunks [k0, k1). rows[i + kPrefetchRows]
// (for i + kPrefetchRows < avail) is prefetched while row i is computed: a shuffled batch's rows lie
// scattered over a training set far bigger than the caches.
template <int V>
inline void forward_rows_body(const std::uint8_t* const* rows,  // (avail) pixel rows, D each
                              int n,
                              int avail,
                              const float* w,                   // (Cpad, Dpad)
                              int D,
                              int Dpad,
                              int C,
                              int k0,
                              int k1,
                              float* out) {                     // (n, C) row-major
  constexpr int R = V >= 16 ? 2 : 1;  // AVX-512 has registers for two rows' 10 accumulators
  const int d0 = std::min(k0 * V, D);
  const int d1 = std::min(k1 * V, D);
  int i = 0;
  for (; i + R <= n; i += R) {
    for (int r = 0; r < R; ++r) {
      if (i + r + kPrefetchRows < avail) prefetch_columns(rows[i + r + kPrefetchRows], d0, d1);
    }
    for (int cb = 0; cb < C; cb += kClassBlock) {
      forward_block<V, R>(rows + i, w, D, Dpad, C, cb, k0, k1, out + static_cast<std::size_t>(i) * C);
    }
  }
  for (; i < n; ++i) {
    if (i + kPrefetchRows < avail) prefetch_columns(rows[i + kPrefetchRows], d0, d1);
    for (int cb = 0; cb < C; cb += kClassBlock) {
      forward_block<V, 1>(rows + i, w, D, Dpad, C, cb, k0, k1, out + static_cast<std::size_t>(i) * C);
    }
  }
}

// Backward of KC consecutive V-lane column chunks starting at column d, classes [cb, cb + kClassBlock):
//   dw[c, d..] (+)= sum_i dzs[i, c] * rows[i][d..] over the rows in order.
template <int V, int KC>
inline void backward_block(const std::uint8_t* const* rows,  // (n) pixel rows, D each
                           int n,
                           const float* dzs,                 // (n, Cpad) dz / 255, zero-padded
                           int Cpad,
                           int cb,
                           int D,
                           int Dpad,
                           int d,
                           bool accumulate,
                           float* dw) {                      // (Cpad, Dpad)
  using F = typename Lanes<V>::F;
  F acc[KC][kClassBlock];
  float* dwb = dw + static_cast<std::size_t>(cb) * static_cast<std::size_t>(Dpad) + d;
  for (int c = 0; c < kClassBlock; ++c) {
    for (int k = 0; k < KC; ++k) {
      if (accumulate) {
        load_floats<V>(dwb + static_cast<std::size_t>(c) * Dpad + k * V, acc[k][c]);
      } else {
        acc[k][c] = F{};
      }
    }
  }
  const bool partial = d + KC * V > D;
  for (int i = 0; i < n; ++i) {
    F x[KC];
    if (!partial) {
      for (int k = 0; k < KC; ++k) load_pixels<V>(rows[i] + d + k * V, x[k]);
    } else {
      for (int k = 0; k < KC; ++k) load_pixels_partial<V>(rows[i] + d + k * V, D - d - k * V, x[k]);
    }
    const float* g = dzs + static_cast<std::size_t>(i) * Cpad + cb;
#pragma GCC unroll 16
    for (int c = 0; c < kClassBlock; ++c) {
      const float gc = g[c];
      for (int k = 0; k < KC; ++k) acc[k][c] += x[k] * gc;
    }
  }
  for (int c = 0; c < kClassBlock; ++c) {
    for (int k = 0; k < KC; ++k) store_floats<V>(dwb + static_cast<std::size_t>(c) * Dpad + k * V, acc[k][c]);
  }
}

// dw[:, chunks k0..k1) for every class block, rows in blocks of kRowBlock (same sums, in the same order).
template <int V>
inline void backward_cols_body(const std::uint8_t* const* rows,  // (n) pixel rows, D each
                               int n,
                               const float* dzs,                 // (n, Cpad)
                               int Cpad,
                               int D,
                               int Dpad,
                               int k0,                           // first chunk of V columns
                               int k1,                           // one past the last chunk
                               float* dw) {                      // (Cpad, Dpad)
  constexpr int KC = V >= 16 ? 2 : 1;  // AVX-512: two chunks share each dz broadcast
  const int d0 = std::min(k0 * V, D);
  const int d1 = std::min(k1 * V, D);
  for (int r0 = 0; r0 < n; r0 += kRowBlock) {
    const int rn = std::min(kRowBlock, n - r0);
    const bool accumulate = r0 > 0;
    // A batch bigger than a row block has left the caches since its forward: fetch this block (the first
    // time) and the next one while this one is summed.
    if (n > kRowBlock) {
      const int p0 = r0 == 0 ? 0 : r0 + kRowBlock;
      const int p1 = std::min(n, r0 + 2 * kRowBlock);
      for (int i = p0; i < p1; ++i) prefetch_columns(rows[i], d0, d1);
    }
    for (int cb = 0; cb < Cpad; cb += kClassBlock) {
      int k = k0;
      for (; k + KC <= k1; k += KC) {
        backward_block<V, KC>(rows + r0, rn, dzs + static_cast<std::size_t>(r0) * Cpad, Cpad, cb, D, Dpad, k * V, accumulate, dw);
      }
      for (; k < k1; ++k) {
        backward_block<V, 1>(rows + r0, rn, dzs + static_cast<std::size_t>(r0) * Cpad, Cpad, cb, D, Dpad, k * V, accumulate, dw);
      }
    }
  }
}

// The SGD update of parameters [j0, j1): the CUDA update kernel's body, in a loop the compiler vectorises
// (the parameters are copied so that the compiler knows the stores do not change them).
inline void update_body(std::size_t j0,
                        std::size_t j1,
                        float* __restrict__ w,          // parameters
                        const float* __restrict__ dw,   // gradients, same layout
                        float* __restrict__ velocity,   // momentum buffers, or nullptr
                        const kernels::SgdStepParams& params) {
  const kernels::SgdStepParams p = params;
  if (velocity == nullptr) {
    for (std::size_t j = j0; j < j1; ++j) kernels::sgd_update_element(j, w, dw, nullptr, p);
  } else {
    for (std::size_t j = j0; j < j1; ++j) kernels::sgd_update_element(j, w, dw, velocity, p);
  }
}

struct SimdKernels {
  int lanes;
  void (*forward)(const std::uint8_t* const*, int, int, const float*, int, int, int, int, int, float*);
  void (*backward)(const std::uint8_t* const*, int, const float*, int, int, int, int, int, float*);
  void (*update)(std::size_t, std::size_t, float*, const float*, float*, const kernels::SgdStepParams&);
};

#define LOGREG_SIMD_WRAPPERS(SUFFIX, TARGET, V)                                                                     \
  TARGET void forward_##SUFFIX(const std::uint8_t* const* rows, int n, int avail, const float* w, int D, int Dpad, \
                               int C, int k0, int k1, float* out) {                                              \
    forward_rows_body<V>(rows, n, avail, w, D, Dpad, C, k0, k1, out);                                             \
  }                                                                                                               \
  TARGET void backward_##SUFFIX(const std::uint8_t* const* rows, int n, const float* dzs, int Cpad, int D,        \
                                int Dpad, int k0, int k1, float* dw) {                                            \
    backward_cols_body<V>(rows, n, dzs, Cpad, D, Dpad, k0, k1, dw);                                                \
  }                                                                                                               \
  TARGET void update_##SUFFIX(std::size_t j0, std::size_t j1, float* w, const float* dw, float* velocity,         \
                              const kernels::SgdStepParams& p) {                                                  \
    update_body(j0, j1, w, dw, velocity, p);                                                                      \
  }

#if defined(__x86_64__) && defined(__GNUC__)
LOGREG_SIMD_WRAPPERS(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"), flatten)), 16)
LOGREG_SIMD_WRAPPERS(avx2, __attribute__((target("avx2,fma"), flatten)), 8)
#endif
LOGREG_SIMD_WRAPPERS(sse2, __attribute__((flatten)), 4)

bool simd_supported(CpuSimd simd) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  switch (simd) {
    case CpuSimd::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
    case CpuSimd::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return simd == CpuSimd::kAuto || simd == CpuSimd::kSse2;
#endif
}

CpuSimd resolve_simd(CpuSimd simd) {
  if (simd != CpuSimd::kAuto) {
    if (!simd_supported(simd)) {
      throw UsageError(std::string("this CPU does not support the ") + cpu_simd_name(simd) + " instructions");
    }
    return simd;
  }
  if (simd_supported(CpuSimd::kAvx512)) return CpuSimd::kAvx512;
  if (simd_supported(CpuSimd::kAvx2)) return CpuSimd::kAvx2;
  return CpuSimd::kSse2;
}

SimdKernels kernels_for(CpuSimd simd) {
  switch (simd) {
#if defined(__x86_64__) && defined(__GNUC__)
    case CpuSimd::kAvx512:
      return {16, forward_avx512, backward_avx512, update_avx512};
    case CpuSimd::kAvx2:
      return {8, forward_avx2, backward_avx2, update_avx2};
#endif
    default:
      return {4, forward_sse2, backward_sse2, update_sse2};
  }
}

// Whether a training step's two parts go to the team or both run on the calling thread. The results are
// the same either way; only the time differs. On a quiet machine sharing wins; when another process keeps
// the second core busy, a worker that claims a part and is then descheduled stalls the step, and the
// calling thread alone is faster. So the steps are timed in windows of kShareWindowRows rows: the faster
// way is used, and the other one is tried again one window in kShareExploreEvery.
class ShareChooser {
 public:
  void begin_call(bool team) {
    team_ = team;
    window_rows_ = 0;  // a window does not span calls: the host loop's work between them is not ours
  }

  // Called before each step of `rows` rows.
  bool share(int rows) {
    if (!team_) return false;
    using Clock = std::chrono::steady_clock;
    const auto now = Clock::now();
    if (window_rows_ >= kShareWindowRows) {
      const double cost = std::chrono::duration<double>(now - window_start_).count() / static_cast<double>(window_rows_);
      double& c = cost_[sharing_ ? 1 : 0];
      c = c == 0.0 ? cost : 0.5 * (c + cost);
      window_rows_ = 0;
    }
    if (window_rows_ == 0) {  // a new window: pick the way
      ++windows_;
      const bool best = cost_[1] <= cost_[0];
      if (cost_[1] == 0.0) {
        sharing_ = true;
      } else if (cost_[0] == 0.0) {
        sharing_ = false;
      } else {
        sharing_ = windows_ % kShareExploreEvery == 0 ? !best : best;
      }
      window_start_ = now;
    }
    window_rows_ += rows;
    return sharing_;
  }

 private:
  static constexpr int kShareWindowRows = 4096;
  static constexpr int kShareExploreEvery = 16;
  bool team_ = false;
  bool sharing_ = true;
  double cost_[2] = {0.0, 0.0};  // seconds per row, alone / shared (a running mean; 0 = not measured yet)
  long long windows_ = 0;
  int window_rows_ = 0;
  std::chrono::steady_clock::time_point window_start_;
};

// Rows [r0, r1) of n split evenly over `parts`.
int split_point(int n, int part, int parts) {
  return static_cast<int>(static_cast<std::int64_t>(n) * part / parts);
}

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
        simd_(resolve_simd(simd)),
        kernels_(kernels_for(simd_)),
        team_(threads > 0 ? threads
                          : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, kMaxDefaultThreads)) {
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
    for (int s = 0; s <= kSlices; ++s) slice_chunk_[s] = chunks - split_point(chunks, kSlices - s, kSlices);
  }

  std::string name() const override {
    return std::string("cpu (float32, ") + cpu_simd_name(simd_) + ", " + std::to_string(team_.size()) +
           (team_.size() == 1 ? " thread)" : " threads)");
  }

  // Each step k runs one team job of kSlices parts; part s first applies step k-1's update to the weight
  // columns of slice s (backward + SGD), then sums batch k's logits over those columns. The calling thread
  // then adds the slices' partial logits (in slice order), runs the loss rows and updates the bias. The last
  // step's update is applied before returning, so the model is complete between calls.
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
    reserve_batch(static_cast<std::size_t>(batch_size));
    const int avail_all = static_cast<int>(std::min<std::size_t>(total, static_cast<std::size_t>(INT32_MAX)));

    kernels::SgdStepParams pw;
    pw.lr = lr;
    pw.momentum = optimizer_.momentum;
    pw.weight_decay = optimizer_.weight_decay;
    pw.nesterov = optimizer_.nesterov;
    pw.n_weights = static_cast<std::size_t>(Cpad_) * static_cast<std::size_t>(Dpad_);
    pw.n = pw.n_weights;
    kernels::SgdStepParams pb = pw;  // the bias: no weight decay
    pb.n_weights = 0;
    pb.n = static_cast<std::size_t>(C_);
    float* vw = vw_.size() > 0 ? vw_.data() : nullptr;
    float* vb = vb_.empty() ? nullptr : vb_.data();

    // The step whose update is still to be applied to the weights, and the batch whose logits to sum.
    const std::uint8_t* const* prev_rows = nullptr;
    int prev_n = 0;
    const std::uint8_t* const* rows = nullptr;
    int n = 0;
    int avail = 0;
    auto slice_job = [&](int s) {
      const int k0 = slice_chunk_[s];
      const int k1 = slice_chunk_[s + 1];
      if (prev_n > 0) {
        kernels_.backward(prev_rows, prev_n, dzs_.data(), Cpad_, D_, Dpad_, k0, k1, dw_.data());
        const std::size_t d0 = static_cast<std::size_t>(std::min(k0 * kernels_.lanes, D_));
        const std::size_t d1 = static_cast<std::size_t>(std::min(k1 * kernels_.lanes, D_));
        for (int c = 0; c < C_ && d0 < d1; ++c) {
          const std::size_t row = static_cast<std::size_t>(c) * Dpad_;
          kernels_.update(row + d0, row + d1, w_.data(), dw_.data(), vw, pw);
        }
      }
      if (n > 0) {
        kernels_.forward(rows, n, avail, w_.data(), D_, Dpad_, C_, k0, k1,
                         partial_.data() + static_cast<std::size_t>(s) * partial_stride_);
      }
    };

    Totals totals;
    const std::size_t b = static_cast<std::size_t>(batch_size);
    share_chooser_.begin_call(team_.size() > 1);
    for (std::size_t start = 0;; start += static_cast<std::size_t>(n)) {  // ends with a job that only updates
      n = static_cast<int>(start < total ? std::min(b, total - start) : 0);
      rows = rows_.data() + start;
      avail = avail_all - static_cast<int>(std::min<std::size_t>(start, static_cast<std::size_t>(avail_all)));
      if (n == 0 && prev_n == 0) break;
      // A step too small to share: waking a worker would cost more than the work.
      const bool share = std::max(n, prev_n) >= kMinRowsPerThread && share_chooser_.share(n);
      team_.run(kSlices, slice_job, share);
      if (n == 0) break;

      // Logits, loss rows, dz and dz / 255 (class-padded, for the next job's backward), then the bias.
      const float scale = 1.0f / static_cast<float>(n);
      const std::uint8_t* y = y_.data() + start;
      Totals step;
      for (int i = 0; i < n; ++i) {
        float* z = logits_.data() + static_cast<std::size_t>(i) * C_;
        for (int c = 0; c < C_; ++c) {
          const std::size_t k = static_cast<std::size_t>(i) * C_ + c;
          float sum = partial_[k];
          for (int s = 1; s < kSlices; ++s) sum += partial_[static_cast<std::size_t>(s) * partial_stride_ + k];
          z[c] = sum / 255.0f;  // the ToTensor() division, once per logit
        }
        const kernels::RowOutcome out = kernels::loss_grad_row(i, head_, logits_.data(), bias_.data(), y, C_, scale,
                                                               logits_.data(), dz_.data());
        step.loss_sum += out.loss;
        step.correct += out.correct;
        float* g = dzs_.data() + static_cast<std::size_t>(i) * Cpad_;
        const float* dz = dz_.data() + static_cast<std::size_t>(i) * C_;
        for (int c = 0; c < C_; ++c) g[c] = dz[c] / 255.0f;  // folds the 1/255 of the pixels into dW
        for (int c = C_; c < Cpad_; ++c) g[c] = 0.0f;
      }
      step.count = n;
      double partial_db[kernels::kMaxClasses];
      float db[kernels::kMaxClasses];
      for (int c = 0; c < C_; ++c) partial_db[c] = kernels::bias_grad_partial(c, dz_.data(), n, C_, 1);
      for (int c = 0; c < C_; ++c) db[c] = kernels::bias_grad_combine(c, partial_db, C_, 1);
      for (int c = 0; c < C_; ++c) kernels::sgd_update_element(static_cast<std::size_t>(c), bias_.data(), db, vb, pb);

      totals.loss_sum += step.loss_sum;
      totals.correct += step.correct;
      totals.count += step.count;
      totals.last_batch_loss = step.mean_loss();
      prev_rows = rows;
      prev_n = n;
    }
    return totals;
  }

  Totals evaluate(const ImageSet& images, const LabelSet& labels) override {
    Model shape;
    shape.input_dim = D_;
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
      const int r0 = split_point(n, part, parts);
      const int r1 = split_point(n, part + 1, parts);
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

  std::vector<float> optimizer_state() const override {
    if (optimizer_.momentum == 0.0f) return {};
    std::vector<float> v(static_cast<std::size_t>(C_) * static_cast<std::size_t>(D_) + static_cast<std::size_t>(C_));
    gather_padded(vw_.data(), v.data());
    std::copy(vb_.begin(), vb_.end(), v.end() - C_);
    return v;
  }

 private:
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
  }

  const ImageSet& images_;
  const LabelSet& labels_;
  LossHead head_;
  int C_, D_, Cpad_, Dpad_;
  OptimizerConfig optimizer_;
  CpuSimd simd_;
  SimdKernels kernels_;
  ShareChooser share_chooser_;
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
  ThreadTeam team_;
};

}  // namespace

bool cpu_simd_supported(CpuSimd simd) { return simd_supported(simd); }

const char* cpu_simd_name(CpuSimd simd) {
  switch (simd) {
    case CpuSimd::kSse2:
      return "sse2";
    case CpuSimd::kAvx2:
      return "avx2";
    case CpuSimd::kAvx512:
      return "avx512";
    default:
      return "auto";
  }
}

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
