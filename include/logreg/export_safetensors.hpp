// safetensors files: the writer of `export --format safetensors` (nn.Linear's state_dict) and the
// validating reader behind `eval --model F.safetensors` and `train --init F.safetensors`, which take a
// PyTorch-trained nn.Linear as it is. Our own .lrm model files are in model_file.hpp.
#pragma once

#include <cstdint>
#include <string>

#include "logreg/model_file.hpp"

namespace logreg {

// Layout (https://github.com/huggingface/safetensors):
//   offset  size  field
//   0       8     u64 little-endian N, the header's length
//   8       N     UTF-8 JSON object: {"__metadata__": {string: string}, NAME: {"dtype": "F32", "shape": [..],
//                 "data_offsets": [begin, end]}, ...}; we pad it with spaces to a multiple of 8 bytes
//   8+N     ...   the tensors' bytes, little-endian, C order; offsets are relative to 8+N
//
// We write "weight" [C, D] then "bias" [C], float32, and string metadata: "format": "pt",
// "producer", "loss_head", "rows", "cols", "epochs_done", "seed", "input": how to scale pixels
// (pixel / 255: the user's job, as with ToTensor()), "settings": the training settings JSON. A feature
// model (one with class labels) also has "classes" [C] int64 (the labels, ascending), metadata
// "pixel_scale" ("1", or "1/255" for uint8 features) and, when trained with --standardize, "mean" [D] and
// "scale" [D] float64: its input is (x * pixel_scale - mean) / scale.
std::string safetensors_model_bytes(const ModelFile& mf);

// Largest safetensors header accepted by the reader (the JSON; the tensors are bounded by the file).
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100u << 20;

// Reads a linear model from a safetensors file: the tensors "weight" [C, D] and "bias" [C] float32, or one
// pair "PREFIX.weight" / "PREFIX.bias" (a module's state_dict, e.g. the tutorial's "linear.weight").
// Metadata written by safetensors_model_bytes is used when present: the loss head (else softmax), the image
// shape (else square, sqrt(D) x sqrt(D), when D is a square; else 1 x D), epochs, seed, settings, the pixel
// scale; and the tensors "classes" (I64 [C], ascending), "mean" and "scale" (F64 [D], both or neither,
// finite, scale > 0; only with classes).
// DataError naming `path` and the field or byte offset: not a safetensors file, a header beyond the file,
// invalid JSON, offsets outside the data, dtypes other than F32, wrong ranks or sizes, C outside [1, 256],
// non-finite values, missing or ambiguous tensors.
ModelFile load_safetensors_model(const std::string& path);

// True when `path` names a safetensors file: it ends with ".safetensors", or its first bytes are an
// 8-byte length followed by '{'. A missing or unreadable file is judged by its name alone.
bool is_safetensors_path(const std::string& path);

// `train --init`: the starting weights from a safetensors nn.Linear, checked against the data's D inputs and
// C classes (DataError naming `path` and both shapes); the head is the run's `head`, whatever the file says.
Model load_safetensors_initial_model(const std::string& path, int input_dim, int num_classes, LossHead head);

// `eval --model` and `export --model`: load_safetensors_model for safetensors files, else load_model_file.
ModelFile load_any_model_file(const std::string& path);

}  // namespace logreg
