// Reading svmlight / libsvm text files into CSR rows: one row per line, "LABEL [qid:N] INDEX:VALUE ...
// [# comment]", as scikit-learn's load_svmlight_file reads them. Labels are whole numbers (written as 3, -1,
// +1 or 3.0); qid is read and ignored; indices must be strictly increasing within a line; values are finite
// decimal numbers. Not here: the label mapping and the train/test pairing (feature_data.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "logreg/feature_data.hpp"
#include "logreg/idx.hpp"

namespace logreg {

// One file as read: the CSR rows with their indices as written (not yet shifted to 0-based) and the labels.
struct SvmlightRows {
  FeatureMatrix x;          // CSR; cols is max index + 1 as written
  RawLabels y;
  std::uint32_t min_index = UINT32_MAX;  // the smallest index written (UINT32_MAX when there is none)
};

// Indices are at most this (so that a width fits the model file's int D).
inline constexpr std::uint32_t kSvmlightMaxIndex = 0x7FFFFFFEu;

// Parses the text in `bytes` (`name` names it in messages). DataError naming the file, the line, the byte
// offset, the field and what was expected.
SvmlightRows parse_svmlight(const std::vector<std::uint8_t>& bytes, const std::string& name);

// The file at `path` (at most limits.max_bytes long, checked before it is read), parsed as parse_svmlight.
SvmlightRows load_svmlight(const std::string& path, const IdxLimits& limits = {});

// Makes the indices of files read together 0-based, as scikit-learn's zero_based="auto": when no file writes
// index 0 they are taken as 1-based and shifted down by one. Every matrix gets the same width: the largest
// index + 1 (at least `min_cols`). `zero_based` given: that base, whatever the files hold (a 1-based file that
// writes index 0 is a DataError naming it). Returns whether the files were taken as 0-based.
bool align_svmlight_indices(std::vector<SvmlightRows*> files, std::size_t min_cols = 1,
                            std::optional<bool> zero_based = std::nullopt);

}  // namespace logreg
