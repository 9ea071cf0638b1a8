// The CUDA part sums of a feature file's full-batch objective (make_cuda_feature_part_sums behind FeatureObjective)
// against the double reference's FeatureObjective (--device reference): f and the gradient at three points within
// 1e-9 relative, for dense float32, float64 and uint8 rows (widths that take and skip the uint8 word prefetch) and
// CSR rows (densified), each unweighted, with sample and class weights, and with weights and no intercept; every
// loss head; bit-identical reruns; a rank's parts alone; and the refusal of a CSR matrix whose dense form passes
// --max-bytes. Skips with the probe's reason where no CUDA device is usable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gpu_test.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/fit_weights.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/maths/row_parts.hpp"
#include "logreg/rng.hpp"
#include "test_support.hpp"

namespace logreg {
namespace {

constexpr int kClasses = 4;
constexpr std::size_t kRows = 157;  // 8 parts of 19-20 rows

enum class Rows { kFloat32, kFloat64, kUint8, kUint8Wide, kCsr };
enum class Terms { kPlain, kWeighted, kWeightedNoIntercept };

const char* rows_name(Rows r) {
  switch (r) {
    case Rows::kFloat32: return "Float32";
    case Rows::kFloat64: return "Float64";
    case Rows::kUint8: return "Uint8";
    case Rows::kUint8Wide: return "Uint8Prefetched";
    case Rows::kCsr: return "Csr";
  }
  return "";
}
const char* terms_name(Terms t) {
  switch (t) {
    case Terms::kPlain: return "Plain";
    case Terms::kWeighted: return "Weighted";
    case Terms::kWeightedNoIntercept: return "WeightedNoIntercept";
  }
  return "";
}

// A matrix of kRows rows of `r`'s kind: 13 features (not a multiple of 4), or 16 for the uint8 rows the kernel
// reads as 4-byte words; about a third of the values zero; labels from the rows' values so the fit has signal.
void MakeRows(Rows r, FeatureMatrix* x, std::vector<std::uint32_t>* y) {
  const std::size_t D = r == Rows::kUint8Wide ? 16 : 13;
  Rng rng(91 + static_cast<int>(r), 5);
  std::vector<double> v(kRows * D);
  std::vector<std::uint8_t> bytes(kRows * D);
  for (std::size_t k = 0; k < v.size(); ++k) {
    bytes[k] = rng.below(3) == 0 ? 0 : static_cast<std::uint8_t>(rng.below(256));
    v[k] = bytes[k] == 0 ? 0.0 : static_cast<double>(rng.below(2001)) / 137.0 - 7.0;
  }
  x->path = "rows";
  x->rows = kRows;
  x->cols = D;
  y->assign(kRows, 0);
  for (std::size_t i = 0; i < kRows; ++i) (*y)[i] = (bytes[i * D] + bytes[i * D + 1] / 64u) % kClasses;
  switch (r) {
    case Rows::kUint8:
    case Rows::kUint8Wide:
      x->dtype = FeatureDtype::kUint8;
      x->dense = bytes;
      return;
    case Rows::kFloat32: {
      x->dtype = FeatureDtype::kFloat32;
      std::vector<float> f(v.begin(), v.end());
      x->dense.resize(f.size() * sizeof(float));
      std::memcpy(x->dense.data(), f.data(), x->dense.size());
      return;
    }
    case Rows::kFloat64:
      x->dtype = FeatureDtype::kFloat64;
      x->dense.resize(v.size() * sizeof(double));
      std::memcpy(x->dense.data(), v.data(), x->dense.size());
      return;
    case Rows::kCsr:
      x->sparse = true;
      x->row_start = {0};
      for (std::size_t i = 0; i < kRows; ++i) {
        for (std::size_t d = 0; d < D; ++d) {
          if (v[i * D + d] != 0.0) {
            x->col_index.push_back(static_cast<std::uint32_t>(d));
            x->values.push_back(v[i * D + d]);
          }
        }
        x->row_start.push_back(x->values.size());
      }
      return;
  }
}

FeatureFitTerms MakeTerms(Terms t, const std::vector<std::uint32_t>& y) {
  if (t == Terms::kPlain) return fit_terms_of({}, std::vector<double>(kClasses, 1.0), y, true, "rows");
  std::vector<double> sample(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) sample[i] = 0.25 + static_cast<double>((i * 7) % 11) / 4.0;
  const std::vector<double> per_class = {1.0, 2.5, 0.5, 1.75};
  return fit_terms_of(sample, per_class, y, t != Terms::kWeightedNoIntercept, "rows");
}

FeaturePartsMaker DeviceMaker(std::uint64_t max_bytes = UINT64_MAX) {
  return [max_bytes](const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head, int classes,
                     const FeatureFitTerms& terms) {
    return make_cuda_feature_part_sums(x, y, head, classes, terms, CudaOptions{}, max_bytes);
  };
}

class CudaFeatureObjective : public test::GpuTest,
                             public ::testing::WithParamInterface<std::tuple<Rows, Terms>> {};

TEST_P(CudaFeatureObjective, MatchesTheReferenceAtThreePoints) {
  const auto [kind, terms_kind] = GetParam();
  FeatureMatrix x;
  std::vector<std::uint32_t> y;
  MakeRows(kind, &x, &y);
  const FeatureFitTerms terms = MakeTerms(terms_kind, y);
  ASSERT_EQ(terms.row_weights.empty(), terms_kind == Terms::kPlain);
  FeatureObjective ref(x, y, LossHead::kSoftmax, kClasses, 1, nullptr, terms);
  FeatureObjective dev(x, y, LossHead::kSoftmax, kClasses, 1, nullptr, terms, DeviceMaker());
  EXPECT_NE(dev.device_name().find("cuda ("), std::string::npos) << dev.device_name();
  const std::size_t P = ref.parameter_count();
  ASSERT_EQ(dev.parameter_count(), P);
  EXPECT_EQ(P, (x.cols + (terms_kind == Terms::kWeightedNoIntercept ? 0 : 1)) * kClasses);
  const double l2 = l2_strength(0.5, ref.weight_total());
  for (const double scale : {0.0, 0.3, 2.0}) {
    const std::vector<double> params = test::RandomParams(P, scale, 17);
    std::vector<double> g_ref(P), g_dev(P), g_again(P);
    const double f_ref = ref(params.data(), l2, g_ref.data());
    const double f_dev = dev(params.data(), l2, g_dev.data());
    EXPECT_NEAR(f_dev, f_ref, 1e-9 * std::fabs(f_ref)) << "scale " << scale;
    EXPECT_LE(test::RelativeMaxError(g_ref, g_dev), 1e-9) << "scale " << scale;
    EXPECT_GT(test::MaxAbs(g_ref), 1e-3) << "scale " << scale;  // a gradient worth comparing
    // A rerun gives the same bits (fixed row blocks, fixed orders).
    const double f_again = dev(params.data(), l2, g_again.data());
    EXPECT_EQ(std::memcmp(&f_again, &f_dev, sizeof f_dev), 0);
    EXPECT_EQ(std::memcmp(g_again.data(), g_dev.data(), P * sizeof(double)), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    RowsAndTerms, CudaFeatureObjective,
    ::testing::Combine(::testing::Values(Rows::kFloat32, Rows::kFloat64, Rows::kUint8, Rows::kUint8Wide, Rows::kCsr),
                       ::testing::Values(Terms::kPlain, Terms::kWeighted, Terms::kWeightedNoIntercept)),
    [](const ::testing::TestParamInfo<std::tuple<Rows, Terms>>& info) {
      return std::string(rows_name(std::get<0>(info.param))) + terms_name(std::get<1>(info.param));
    });

class CudaFeatureParts : public test::GpuTest {};

// The other loss heads read the same rows and weights through the same objective_row.
TEST_F(CudaFeatureParts, EveryLossHeadMatchesTheReference) {
  FeatureMatrix x;
  std::vector<std::uint32_t> y;
  MakeRows(Rows::kFloat64, &x, &y);
  const FeatureFitTerms terms = MakeTerms(Terms::kWeighted, y);
  for (const LossHead head : {LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    FeatureObjective ref(x, y, head, kClasses, 1, nullptr, terms);
    FeatureObjective dev(x, y, head, kClasses, 1, nullptr, terms, DeviceMaker());
    const std::vector<double> params = test::RandomParams(ref.parameter_count(), 0.5, 23);
    std::vector<double> g_ref(params.size()), g_dev(params.size());
    const double f_ref = ref(params.data(), 0.0, g_ref.data());
    const double f_dev = dev(params.data(), 0.0, g_dev.data());
    EXPECT_NEAR(f_dev, f_ref, 1e-9 * std::fabs(f_ref)) << loss_head_name(head);
    EXPECT_LE(test::RelativeMaxError(g_ref, g_dev), 1e-9) << loss_head_name(head);
  }
}

// An MPI rank's parts alone, uploaded on their own: each part's sums equal those of the whole set's upload, and
// every part's sums added give the whole objective's data term.
TEST_F(CudaFeatureParts, ARanksPartsAloneGiveTheSameSums) {
  FeatureMatrix x;
  std::vector<std::uint32_t> y;
  MakeRows(Rows::kCsr, &x, &y);
  const FeatureFitTerms terms = MakeTerms(Terms::kWeighted, y);
  const std::size_t P = x.cols * kClasses + kClasses;
  const std::vector<double> params = test::RandomParams(P, 0.4, 5);
  const int parts = full_batch_parts(x.rows);
  ASSERT_EQ(parts, 8);
  auto all = make_cuda_feature_part_sums(x, y, LossHead::kSoftmax, kClasses, terms, CudaOptions{}, UINT64_MAX);
  auto mine = make_cuda_feature_part_sums(x, y, LossHead::kSoftmax, kClasses, terms, CudaOptions{}, UINT64_MAX);
  std::vector<double> every(static_cast<std::size_t>(parts) * (P + 1)), share(3 * (P + 1));
  all->part_sums(0, parts, params.data(), every.data());
  mine->part_sums(3, 6, params.data(), share.data());
  EXPECT_EQ(std::memcmp(share.data(), every.data() + 3 * (P + 1), share.size() * sizeof(double)), 0);
  mine->part_sums(6, 6, params.data(), share.data());  // a rank without parts: nothing computed, nothing thrown
  EXPECT_THROW(mine->part_sums(7, 9, params.data(), share.data()), UsageError);
}

TEST_F(CudaFeatureParts, CsrOverMaxBytesIsRefusedNamingTheSizes) {
  FeatureMatrix x;
  std::vector<std::uint32_t> y;
  MakeRows(Rows::kCsr, &x, &y);
  const FeatureFitTerms terms = MakeTerms(Terms::kPlain, y);
  const std::uint64_t dense = kRows * 13 * sizeof(double);
  try {
    FeatureObjective dev(x, y, LossHead::kSoftmax, kClasses, 1, nullptr, terms, DeviceMaker(dense - 1));
    FAIL() << "a CSR matrix over --max-bytes was accepted";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("takes " + std::to_string(dense) + " bytes, over --max-bytes " + std::to_string(dense - 1)),
              std::string::npos) << what;
  }
  // At the limit it fits, and a dense matrix is not bounded by it (it is held in host memory already).
  EXPECT_NO_THROW(FeatureObjective(x, y, LossHead::kSoftmax, kClasses, 1, nullptr, terms, DeviceMaker(dense)));
  FeatureMatrix f64;
  std::vector<std::uint32_t> f64_y;
  MakeRows(Rows::kFloat64, &f64, &f64_y);
  EXPECT_NO_THROW(FeatureObjective(f64, f64_y, LossHead::kSoftmax, kClasses, 1, nullptr, terms, DeviceMaker(1)));
}

TEST_F(CudaFeatureParts, NewtonCgIsRefusedOnTheDevice) {
  FeatureMatrix x;
  std::vector<std::uint32_t> y;
  MakeRows(Rows::kFloat32, &x, &y);
  FeatureObjective dev(x, y, LossHead::kSoftmax, kClasses, 1, nullptr, MakeTerms(Terms::kPlain, y), DeviceMaker());
  std::vector<double> p(dev.parameter_count(), 0.0), hv(p.size());
  EXPECT_THROW(dev.hessian_vector(p.data(), 0.0, p.data(), hv.data()), UsageError);
}

}  // namespace
}  // namespace logreg
