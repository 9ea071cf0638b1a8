// NumPy export: .npy arrays (format version 1.0) in an uncompressed ("stored") zip, the layout
// numpy.savez writes, with the arrays scikit-learn's LogisticRegression needs to predict.
// Nothing here reads .npz files.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "logreg/model_file.hpp"

namespace logreg {

// The arrays of an exported model of C classes over D inputs:
//   coef_       float32 (C, D)  the weights, as LogisticRegression.coef_
//   intercept_  float32 (C,)    the bias, as LogisticRegression.intercept_
//   classes_    int64 (C,)      the class labels (0 .. C-1 for an IDX model), as LogisticRegression.classes_
//   scale       float64 ()      1/255 (pixels, uint8 features) or 1 (float features): the input is raw * scale
// and, for a model trained with --standardize, StandardScaler's two arrays:
//   mean_       float64 (D,)    the training rows' means (zeros for CSR rows, with_mean=False)
//   scale_      float64 (D,)    their population standard deviations (1 for a constant feature)
// so `clf.coef_, clf.intercept_, clf.classes_ = ...; clf.predict((raw * scale - mean_) / scale_)` (without
// the scaler: clf.predict(raw * scale)) predicts as we do.
std::string npz_model_bytes(const ModelFile& mf);

// One .npy file (version 1.0): magic "\x93NUMPY", 1, 0, u16 header length, the header dict
// "{'descr': DESCR, 'fortran_order': False, 'shape': SHAPE, }" padded with spaces and ended by '\n' so
// the data starts at a multiple of 64 bytes, then the data (C order).
//   descr: "<f4", "<f8" or "<i8"; shape: {} for a scalar.
std::string npy_bytes(const std::string& descr, const std::vector<std::uint64_t>& shape, const std::string& data);

// A zip archive of `entries` (name, contents), each stored uncompressed with its CRC-32, a central
// directory and the end record; no zip64 (std::length_error beyond 4 GiB).
std::string stored_zip_bytes(const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace logreg
