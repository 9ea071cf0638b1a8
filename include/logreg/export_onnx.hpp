// ONNX export of a model: the graph it builds (names, shapes, operators per loss head) and the encoder,
// which fills the protobuf classes protoc generates from Debian's onnx.proto at build time. Nothing here
// runs an ONNX model; tests/python/test_export.py checks the file with onnx and onnxruntime.
#pragma once

#include <cstdint>
#include <string>

#include "logreg/model_file.hpp"

namespace logreg {

// The graph, for a model of C classes over D = rows * cols inputs:
//
//   pixels  float32 [N, D]  raw pixel values 0..255 (N is the symbolic batch dimension "N")
//   x       = Div(pixels, pixel_max)                 pixel_max: float32 scalar 255 (ToTensor's pixel / 255)
//   logits  = Gemm(x, weight, bias, transB = 1)      weight: float32 [C, D], bias: float32 [C]  -> [N, C]
//   probabilities, by the model's loss head (the distribution `predict` prints, row_probabilities.hpp):
//     softmax          Softmax(logits, axis = 1)
//     sigmoid-softmax  Softmax(Sigmoid(logits), axis = 1)   (the tutorial's head; sums to 1)
//     ovr              Sigmoid(logits)                      (independent per class; does not sum to 1)
//
// A feature model (one with class labels, trained on --data FILE) has the input "features" instead: raw values
// divided by 255 only for uint8 features (pixel scale 1/255), and when it carries a scaler (train --standardize)
// the standardisation in double, as training computed it, before the Gemm:
//   x       = Cast(Div(Sub(Cast(features, DOUBLE) [/ 255], mean), scale), FLOAT)   mean, scale: float64 [D]
// and a third output, the label of the predicted class:
//   label   = Gather(classes, ArgMax(logits, axis = 1, keepdims = 0))   classes: int64 [C]  -> int64 [N]
//
// The model's doc_string states the head, the input convention and the training settings JSON; the
// settings, head, epochs, seed and image shape are also metadata_props ("logreg_cuda.*").
inline constexpr std::int64_t kOnnxOpset = 13;      // Softmax over one axis since 13; onnxruntime >= 1.7
inline constexpr std::int64_t kOnnxIrVersion = 7;   // the IR version of opset 13
inline constexpr const char* kOnnxInputName = "pixels";
inline constexpr const char* kOnnxLogitsName = "logits";
inline constexpr const char* kOnnxProbabilitiesName = "probabilities";
inline constexpr const char* kOnnxFeaturesName = "features";  // a feature model's input
inline constexpr const char* kOnnxLabelName = "label";        // a feature model's third output

// The serialized onnx.ModelProto. std::invalid_argument when `mf` is inconsistent.
std::string onnx_model_bytes(const ModelFile& mf);

}  // namespace logreg
