// cpu_limit: the "limit" rows of tools/bench/bench.sh. A plain OpenBLAS mini-batch SGD loop for
// Linear(784, 10) + softmax, the loop a user would write in 30 lines, timed on the real training set, shuffled
// and in order, plus cblas_sgemm's GFLOP/s on 1024^3: what this machine gives without our SIMD backend.
// Not here: our backend (src/cpu/), the tables of BENCHMARKS.md (tools/bench/bench_report.py).
//
// usage: cpu_limit [--data DIR] [--batch B[,B...]] [--epochs N] [--lr LR] [--threads N] [--json]
// Each (batch, order) row: one warm-up epoch, then N timed epochs; the median and the fastest are printed.
// The loop runs on --threads OpenBLAS threads (default 1: GEMMs of 32..8192 x 784 x 10 gain little from a
// second thread, and on a busy machine OpenBLAS's spinning threads stall; measured here: batch 256 shuffled
// 1.4 s -> 5.2 s per epoch with 2). The 1024^3 sgemm is timed on 1 thread and on all of OpenBLAS's threads.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "logreg/data_source.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

struct EpochResult {
  double seconds = 0.0;
  double loss_sum = 0.0;
  int correct = 0;
};

// One epoch of the plain loop over `order` in batches of B: gather the rows and convert them to float
// (÷255, ToTensor), Z = X·Wᵀ (sgemm), + bias, softmax and cross-entropy, dZ = (P - onehot) / B, then
// W += -lr · dZᵀ·X (sgemm, beta = 1: the update fused into the backward GEMM) and the bias.
EpochResult plain_epoch(const logreg::ImageSet& images,
                        const logreg::LabelSet& labels,
                        const std::vector<std::uint32_t>& order,  // (N) row order of the epoch
                        int B,
                        float lr,
                        std::vector<float>& W,                    // (C, D) row-major
                        std::vector<float>& bias) {               // (C)
  const int D = static_cast<int>(images.dim());
  const int C = static_cast<int>(bias.size());
  std::vector<float> X(static_cast<std::size_t>(B) * D);  // (B, D) the batch as float
  std::vector<float> Z(static_cast<std::size_t>(B) * C);  // (B, C) logits, then dZ
  EpochResult r;
  const auto t0 = Clock::now();
  const std::size_t N = order.size();
  for (std::size_t start = 0; start < N; start += static_cast<std::size_t>(B)) {
    const int n = static_cast<int>(std::min<std::size_t>(B, N - start));
    for (int i = 0; i < n; ++i) {
      const std::uint8_t* p = images.image(order[start + i]);
      float* x = X.data() + static_cast<std::size_t>(i) * D;
      for (int d = 0; d < D; ++d) x[d] = p[d] / 255.0f;
    }
    // Row-major Z (n, C) = X (n, D) · Wᵀ (D, C).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, C, D, 1.0f, X.data(), D, W.data(), D, 0.0f, Z.data(), C);
    float db[64] = {};
    for (int i = 0; i < n; ++i) {
      float* z = Z.data() + static_cast<std::size_t>(i) * C;
      const int y = labels.labels[order[start + i]];
      float mx = -INFINITY;
      int arg = 0;
      for (int c = 0; c < C; ++c) {
        z[c] += bias[c];
        if (z[c] > mx) { mx = z[c]; arg = c; }
      }
      float sum = 0.0f;
      for (int c = 0; c < C; ++c) sum += std::exp(z[c] - mx);
      r.loss_sum += std::log(sum) - (z[y] - mx);
      r.correct += arg == y;
      for (int c = 0; c < C; ++c) {
        z[c] = (std::exp(z[c] - mx) / sum - (c == y ? 1.0f : 0.0f)) / static_cast<float>(n);
        db[c] += z[c];
      }
    }
    // Row-major W (C, D) += -lr · dZᵀ (C, n) · X (n, D).
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, n, -lr, Z.data(), C, X.data(), D, 1.0f, W.data(), D);
    for (int c = 0; c < C; ++c) bias[c] -= lr * db[c];
  }
  r.seconds = seconds_since(t0);
  return r;
}

// GFLOP/s of one 1024^3 sgemm (2·n³ flops): the median of `repeats` after a warm-up.
double sgemm_gflops(int n, int repeats) {
  std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size(), 0.0f);
  std::vector<double> t;
  for (int k = 0; k <= repeats; ++k) {
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    if (k > 0) t.push_back(seconds_since(t0));
  }
  return 2.0 * n * static_cast<double>(n) * n / median(t) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> data_dir;
  std::vector<int> batches = {32, 256, 8192};
  int epochs = 5;
  float lr = 0.001f;
  bool json = false;
  int loop_threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "cpu_limit: %s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--data") data_dir = next();
    else if (a == "--epochs") epochs = std::max(1, std::atoi(next().c_str()));
    else if (a == "--lr") lr = std::strtof(next().c_str(), nullptr);
    else if (a == "--json") json = true;
    else if (a == "--threads") loop_threads = std::max(1, std::atoi(next().c_str()));
    else if (a == "--batch") {
      batches.clear();
      std::stringstream ss(next());
      for (std::string b; std::getline(ss, b, ',');) batches.push_back(std::max(1, std::atoi(b.c_str())));
    } else {
      std::fprintf(stderr, "usage: cpu_limit [--data DIR] [--batch B[,B...]] [--epochs N] [--lr LR] [--threads N] [--json]\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  std::string note;
  const logreg::DataFiles files = logreg::locate_data(data_dir, &note);
  const logreg::Dataset ds = logreg::load_dataset(files);
  const logreg::ImageSet& images = ds.train_images;
  const logreg::LabelSet& labels = ds.train_labels;
  const int D = static_cast<int>(images.dim());
  const int C = 10;
  const std::size_t N = images.count;

  const int all_threads = openblas_get_num_threads();
  const double gflops_all = sgemm_gflops(1024, 5);
  openblas_set_num_threads(1);
  const double gflops_one = sgemm_gflops(1024, 5);
  openblas_set_num_threads(loop_threads);
  if (json) {
    std::printf("{\"row\": \"sgemm\", \"n\": 1024, \"gflops\": %.2f, \"threads\": %d, \"gflops_1thread\": %.2f, "
                "\"loop_threads\": %d, \"data\": \"%s\"}\n",
                gflops_all, all_threads, gflops_one, loop_threads, files.name.c_str());
  } else {
    std::printf("cpu_limit on %s (%zu x %d), loop on %d OpenBLAS thread(s), %d timed epochs after a warm-up, lr %g\n",
                files.name.c_str(), N, D, loop_threads, epochs, lr);
    std::printf("cblas_sgemm 1024^3: %.1f GFLOP/s on %d thread(s), %.1f on 1\n\n", gflops_all, all_threads, gflops_one);
    std::printf("| plain OpenBLAS loop | batch | ms/epoch (median) | fastest | GFLOP/s (4·N·D·C) | last epoch loss |\n");
    std::printf("| --- | --- | --- | --- | --- | --- |\n");
  }
  std::mt19937 gen(1234);
  for (int B : batches) {
    for (int shuffled = 1; shuffled >= 0; --shuffled) {
      std::vector<float> W(static_cast<std::size_t>(C) * D, 0.0f), bias(C, 0.0f);
      std::uniform_real_distribution<float> init(-0.0357f, 0.0357f);  // ±1/sqrt(784), nn.Linear's bound
      for (float& w : W) w = init(gen);
      std::vector<std::uint32_t> order(N);
      std::vector<double> times;
      EpochResult last;
      for (int e = 0; e <= epochs; ++e) {
        std::iota(order.begin(), order.end(), 0u);
        if (shuffled) std::shuffle(order.begin(), order.end(), gen);
        last = plain_epoch(images, labels, order, B, lr, W, bias);
        if (e > 0) times.push_back(last.seconds);
      }
      const double med = median(times);
      const double fastest = *std::min_element(times.begin(), times.end());
      const double flops = 4.0 * static_cast<double>(N) * D * C;
      if (json) {
        std::printf("{\"row\": \"plain\", \"order\": \"%s\", \"batch\": %d, \"seconds\": %.6f, \"fastest\": %.6f, "
                    "\"epochs\": %d, \"loss\": %.5f, \"accuracy\": %.4f}\n",
                    shuffled ? "shuffled" : "in order", B, med, fastest, epochs, last.loss_sum / N,
                    static_cast<double>(last.correct) / N);
      } else {
        std::printf("| %s | %d | %.1f | %.1f | %.1f | %.4f |\n", shuffled ? "shuffled" : "in order", B, med * 1e3,
                    fastest * 1e3, flops / med / 1e9, last.loss_sum / N);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
