// Inference on the host (include/logreg/evaluation.hpp), every engine's logits() and feature_logits(): IDX
// logits with double accumulation (SIMD across rows on the shared thread team, logit_rows.hpp), feature-matrix
// logits in double; the evaluation report written once over any engine's logits of either (per-row losses from
// row_math.hpp, the confusion matrix with precision/recall) and its table and JSON renderings; per-row
// probabilities from row_probabilities.hpp.
#include "logreg/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/errors.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/row_probabilities.hpp"
#include "logreg/thread_team.hpp"
#include "bounded_predictions.hpp"
#include "logit_rows.hpp"
#include "simd_kernels.hpp"

namespace logreg {
namespace {

void check_image_size(const Model& model, const ImageSet& images) {
  if (images.dim() != static_cast<std::size_t>(model.input_dim)) {
    throw DataError(images.path, "images are " + std::to_string(images.rows) + "x" + std::to_string(images.cols) +
                                     " = " + std::to_string(images.dim()) + " pixels, the model expects " +
                                     std::to_string(model.input_dim));
  }
  if (images.pixels.size() != static_cast<std::size_t>(images.count) * images.dim()) {
    throw DataError(images.path, "holds " + std::to_string(images.pixels.size()) + " pixel bytes for " +
                                     std::to_string(images.count) + " images of " + std::to_string(images.dim()));
  }
}

void check_feature_width(const Model& model, const FeatureMatrix& x) {
  if (x.cols != static_cast<std::size_t>(model.input_dim)) {
    throw DataError(x.path, "rows of " + std::to_string(x.cols) + " features, the model expects " +
                                std::to_string(model.input_dim));
  }
}

std::size_t digits(std::int64_t v) { return std::to_string(v).size(); }

// `s` right-aligned in a field of `width` plus one separating space / left-aligned in `width`.
std::string pad_left(const std::string& s, std::size_t width) {
  return std::string(1 + (s.size() < width ? width - s.size() : 0), ' ') + s;
}
std::string pad_right(const std::string& s, std::size_t width) {
  return s + std::string(s.size() < width ? width - s.size() : 0, ' ');
}

// Runs job(r0, r1) over rows [0, n) cut into parts of about kRowsPerPart rows on `team`. Every row's logits
// are computed alone, so the results are the same on any number of threads, and no thread is started per call.
template <class Job>
void for_row_parts(std::size_t n, cpu::ThreadTeam& team, const Job& job) {
  if (n == 0) return;
  constexpr std::size_t kRowsPerPart = 256;  // small parts balance a busy machine's threads
  const int parts = static_cast<int>(std::min<std::size_t>((n + kRowsPerPart - 1) / kRowsPerPart,
                                                           cpu::ThreadTeam::kMaxParts));
  auto part_job = [&](int part) {
    job(n * static_cast<std::size_t>(part) / static_cast<std::size_t>(parts),
        n * static_cast<std::size_t>(part + 1) / static_cast<std::size_t>(parts));
  };
  team.run(parts, part_job, true);
}

// The IDX rows' logits (logit_rows.hpp: the reference definition, bit for bit) in parts of `team`.
// after(r0, r1) runs on the part's thread once its rows' logits are in `logits`.
template <class After>
void logits_in_parts(const Model& model, const ImageSet& images, CpuSimd simd, cpu::ThreadTeam& team, float* logits,
                     const After& after) {
  const std::size_t C = static_cast<std::size_t>(model.num_classes);
  const std::size_t D = images.dim();
  const std::size_t n = images.count;
  if (n == 0) return;
  const bool finite = std::all_of(model.weights.begin(), model.weights.end(), [](float w) { return std::isfinite(w); });
  const bool fast = finite && D <= static_cast<std::size_t>(cpu::kMaxLogitPixels);  // logit_rows.hpp's conditions
  std::vector<double> wt(fast ? D * C : 0);  // (D, C) the weights transposed, as doubles
  for (std::size_t c = 0; c < C && fast; ++c) {
    for (std::size_t d = 0; d < D; ++d) wt[d * C + c] = static_cast<double>(model.weights[c * D + d]);
  }
  const CpuSimd level = cpu::resolve_simd(simd);
  for_row_parts(n, team, [&](std::size_t r0, std::size_t r1) {
    if (fast) {
      std::vector<double> xt(D * 8);  // (D, 8): the widest tile of rows
      std::vector<std::uint16_t> cols(D);
      cpu::fast_logit_rows(level, model, wt.data(), images, r0, r1, xt.data(), cols.data(), logits);
    } else {
      cpu::reference_logit_rows(model, images, r0, r1, logits);
    }
    after(r0, r1);
  });
}

}  // namespace

std::vector<float> compute_logits(const Model& model, const ImageSet& images) {
  return compute_logits(model, images, CpuSimd::kAuto, cpu::shared_thread_team());
}

std::vector<float> compute_logits(const Model& model, const ImageSet& images, CpuSimd simd, cpu::ThreadTeam& team) {
  check_image_size(model, images);
  std::vector<float> logits(images.count * static_cast<std::size_t>(model.num_classes));
  logits_in_parts(model, images, simd, team, logits.data(), [](std::size_t, std::size_t) {});
  return logits;
}

std::vector<double> feature_logits(const Model& model, const FeatureMatrix& x) {
  check_feature_width(model, x);
  const std::size_t C = static_cast<std::size_t>(model.num_classes);
  const std::size_t D = x.cols;
  std::vector<double> logits(x.rows * C);
  for_row_parts(x.rows, cpu::shared_thread_team(), [&](std::size_t r0, std::size_t r1) {
    std::vector<double> row(x.sparse ? 0 : D);
    for (std::size_t i = r0; i < r1; ++i) {
      double* z = logits.data() + i * C;
      if (!x.sparse) x.row_to_double(i, row.data());
      for (std::size_t c = 0; c < C; ++c) {
        const float* w = model.weights.data() + c * D;
        double acc = model.bias[c];
        if (x.sparse) {
          for (std::uint64_t k = x.row_start[i]; k < x.row_start[i + 1]; ++k) {
            acc += static_cast<double>(w[x.col_index[k]]) * x.values[k];
          }
        } else {
          for (std::size_t d = 0; d < D; ++d) acc += static_cast<double>(w[d]) * row[d];
        }
        z[c] = acc;
      }
    }
  });
  return logits;
}

std::vector<double> class_probabilities(LossHead head, const float* logits, int C) {
  std::vector<double> z(logits, logits + C);
  std::vector<double> p(static_cast<std::size_t>(C));
  row_probabilities<double>(head, z.data(), C, p.data());
  return p;
}

namespace {

void check_labels(const Model& model, const ImageSet& images, const LabelSet& labels) {
  check_image_size(model, images);
  if (labels.count() != images.count) {
    throw DataError(labels.path, std::to_string(labels.count()) + " labels for " + std::to_string(images.count) +
                                     " images in " + images.path);
  }
  for (std::size_t i = 0; i < labels.count(); ++i) {
    if (labels.labels[i] >= model.num_classes) {
      throw DataError(labels.path, "label " + std::to_string(labels.labels[i]) + " at index " + std::to_string(i) +
                                       " is not a class of the model (it has " + std::to_string(model.num_classes) +
                                       " classes)");
    }
  }
}

}  // namespace

double accuracy_percent(const Model& model, const ImageSet& images, const LabelSet& labels) {
  check_labels(model, images, labels);
  const int C = model.num_classes;
  const std::size_t Cs = static_cast<std::size_t>(C);
  // With AVX-512: float32 logits where their error bound proves the reference's prediction, the reference's
  // logits for the other rows (bounded_predictions.hpp); the same predictions, in a fraction of the time.
  const cpu::BoundedPredictor bounded = cpu::BoundedPredictor::of(model);
  if (bounded.usable && images.count > 0) {
    const std::size_t n = images.count;
    std::vector<int> predicted(n);
    for_row_parts(n, cpu::shared_thread_team(), [&](std::size_t r0, std::size_t r1) {
      cpu::predict_rows_bounded(bounded, model, images, r0, r1, predicted.data());
    });
    Totals t;
    for (std::size_t i = 0; i < n; ++i) t.correct += predicted[i] == labels.labels[i] ? 1 : 0;
    t.count = static_cast<std::int64_t>(n);
    return t.accuracy_percent();
  }
  std::vector<float> logits(images.count * Cs);
  std::vector<std::uint8_t> correct(images.count);
  logits_in_parts(model, images, CpuSimd::kAuto, cpu::shared_thread_team(), logits.data(),
                  [&](std::size_t r0, std::size_t r1) {
                    for (std::size_t i = r0; i < r1; ++i) {
                      correct[i] = row_argmax(logits.data() + i * Cs, C) == labels.labels[i] ? 1 : 0;
                    }
                  });
  Totals t;
  for (const std::uint8_t c : correct) t.correct += c;
  t.count = static_cast<std::int64_t>(images.count);
  return t.accuracy_percent();
}

namespace {

// The report of (N, C) logits (float or double) under `head` against labels[0..N) (checked by the caller): each
// row's prediction (row_argmax) and loss (row_loss_grad<double> of the row as doubles, scale 1), summed in row
// order. Floats widen to doubles exactly, so the argmax of either is the same.
template <class Logit, class Label>
EvaluationReport report_of_logits(LossHead head, int C, const std::vector<Logit>& logits, const Label* labels,
                                  std::size_t n) {
  const std::size_t Cs = static_cast<std::size_t>(C);
  EvaluationReport r;
  r.num_classes = C;
  r.confusion.assign(Cs * Cs, 0);
  std::vector<double> z(Cs);
  for (std::size_t i = 0; i < n; ++i) {
    const Logit* zi = logits.data() + i * Cs;
    std::copy(zi, zi + Cs, z.begin());
    const int predicted = row_argmax(z.data(), C);
    const int label = static_cast<int>(labels[i]);
    r.totals.loss_sum += row_loss_grad<double>(head, z.data(), C, label, 1.0, nullptr);
    r.totals.correct += predicted == label ? 1 : 0;
    r.totals.count += 1;
    r.confusion[static_cast<std::size_t>(label) * Cs + static_cast<std::size_t>(predicted)] += 1;
  }
  r.precision.assign(Cs, 0.0);
  r.recall.assign(Cs, 0.0);
  for (int c = 0; c < C; ++c) {
    std::int64_t predicted_as_c = 0, true_c = 0;
    for (int k = 0; k < C; ++k) {
      predicted_as_c += r.at(k, c);
      true_c += r.at(c, k);
    }
    const double hits = static_cast<double>(r.at(c, c));
    if (predicted_as_c > 0) r.precision[static_cast<std::size_t>(c)] = hits / static_cast<double>(predicted_as_c);
    if (true_c > 0) r.recall[static_cast<std::size_t>(c)] = hits / static_cast<double>(true_c);
  }
  return r;
}

template <class Logit>
void check_logit_count(const Engine& engine, const std::vector<Logit>& logits, std::size_t rows, int C) {
  if (logits.size() != rows * static_cast<std::size_t>(C)) {
    throw UsageError("the " + engine.name() + " engine gave " + std::to_string(logits.size()) + " logits for " +
                     std::to_string(rows) + " rows of " + std::to_string(C) + " classes");
  }
}

}  // namespace

EvaluationReport evaluate_model(const Model& model, const ImageSet& images, const LabelSet& labels) {
  check_labels(model, images, labels);
  return report_of_logits(model.head, model.num_classes, compute_logits(model, images), labels.labels.data(),
                          labels.count());
}

EvaluationReport evaluate_model(Engine& engine, const Model& model, const ImageSet& images, const LabelSet& labels) {
  check_labels(model, images, labels);
  const std::vector<float> logits = engine.logits(model, images);
  check_logit_count(engine, logits, images.count, model.num_classes);
  return report_of_logits(model.head, model.num_classes, logits, labels.labels.data(), labels.count());
}

EvaluationReport evaluate_model(Engine& engine, const Model& model, const FeatureMatrix& x,
                                const std::vector<std::uint32_t>& y) {
  check_feature_width(model, x);
  if (y.size() != x.rows) {
    throw DataError(x.path, std::to_string(y.size()) + " labels for " + std::to_string(x.rows) + " rows");
  }
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] >= static_cast<std::uint32_t>(model.num_classes)) {
      throw DataError(x.path, "class " + std::to_string(y[i]) + " of row " + std::to_string(i) +
                                  " is not below the model's " + std::to_string(model.num_classes) + " classes");
    }
  }
  const std::vector<double> logits = engine.feature_logits(model, x);
  check_logit_count(engine, logits, x.rows, model.num_classes);
  return report_of_logits(model.head, model.num_classes, logits, y.data(), y.size());
}

std::string format_confusion_matrix(const EvaluationReport& r) {
  const int C = r.num_classes;
  std::int64_t largest = 0;
  for (std::int64_t v : r.confusion) largest = std::max(largest, v);
  const std::size_t cell = std::max(digits(largest), digits(C - 1)) + 1;
  const std::string corner = "true \\ predicted";
  const std::size_t label_width = std::max(corner.size(), 5 + digits(C - 1));

  std::string out = pad_right(corner, label_width);
  for (int c = 0; c < C; ++c) out += pad_left(std::to_string(c), cell);
  out += "   precision  recall\n";
  char buf[64];
  for (int t = 0; t < C; ++t) {
    out += pad_right("true " + std::to_string(t), label_width);
    for (int p = 0; p < C; ++p) out += pad_left(std::to_string(r.at(t, p)), cell);
    std::snprintf(buf, sizeof buf, "   %9.4f  %6.4f\n", r.precision[static_cast<std::size_t>(t)],
                  r.recall[static_cast<std::size_t>(t)]);
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%lld of %lld rows on the diagonal (%.2f%%)\n",
                static_cast<long long>(r.totals.correct), static_cast<long long>(r.totals.count),
                r.totals.accuracy_percent());
  out += buf;
  return out;
}

std::string evaluation_json(const EvaluationReport& r) {
  nlohmann::ordered_json j;
  j["loss"] = r.totals.mean_loss();
  j["loss_sum"] = r.totals.loss_sum;
  j["accuracy"] = r.totals.count > 0 ? static_cast<double>(r.totals.correct) / static_cast<double>(r.totals.count) : 0.0;
  j["accuracy_percent"] = r.totals.accuracy_percent();
  j["correct"] = r.totals.correct;
  j["count"] = r.totals.count;
  j["num_classes"] = r.num_classes;
  nlohmann::ordered_json confusion = nlohmann::ordered_json::array();
  for (int t = 0; t < r.num_classes; ++t) {
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (int p = 0; p < r.num_classes; ++p) row.push_back(r.at(t, p));
    confusion.push_back(std::move(row));
  }
  j["confusion"] = std::move(confusion);
  j["precision"] = r.precision;
  j["recall"] = r.recall;
  return j.dump();
}

}  // namespace logreg
