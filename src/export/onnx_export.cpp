// The ONNX export (include/logreg/export_onnx.hpp): builds the graph Div -> Gemm -> head with the
// protobuf classes generated from Debian's onnx.proto (package onnx) and serializes the ModelProto.
#include "logreg/export_onnx.hpp"

#include <stdexcept>
#include <string>

#include "export_check.hpp"
#include "little_endian.hpp"
#include "onnx.pb.h"

namespace logreg {
namespace {

void add_tensor_input_or_output(onnx::ValueInfoProto* v, const char* name, std::int64_t columns, const std::string& doc) {
  v->set_name(name);
  v->set_doc_string(doc);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  shape->add_dim()->set_dim_value(columns);
}

onnx::TensorProto* add_float_initializer(onnx::GraphProto* g, const char* name, std::initializer_list<std::int64_t> dims,
                                         const std::vector<float>& values) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) t->add_dims(d);
  t->set_raw_data(export_detail::float32_bytes(values));  // raw_data is little-endian by the ONNX spec
  return t;
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const char* op, const char* name, std::initializer_list<const char*> inputs,
                          const char* output) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const char* in : inputs) n->add_input(in);
  n->add_output(output);
  return n;
}

void set_int_attribute(onnx::NodeProto* n, const char* name, std::int64_t value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void add_metadata(onnx::ModelProto* m, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* e = m->add_metadata_props();
  e->set_key("logreg_cuda." + key);
  e->set_value(value);
}

std::string probabilities_doc(LossHead head) {
  switch (head) {
    case LossHead::kSoftmax: return "softmax(logits): the class distribution, rows sum to 1";
    case LossHead::kSigmoidSoftmax:
      return "softmax(sigmoid(logits)): the distribution the tutorial's sigmoid-softmax head trains; rows sum to 1 "
             "but are never far from uniform";
    case LossHead::kOvr: return "sigmoid(logits): one independent one-vs-rest probability per class; rows do not sum to 1";
  }
  return "";
}

}  // namespace

std::string onnx_model_bytes(const ModelFile& mf) {
  GOOGLE_PROTOBUF_VERIFY_VERSION;
  export_detail::check_exportable(mf);
  const Model& model = mf.model;
  const std::int64_t C = model.num_classes;
  const std::int64_t D = model.input_dim;
  const std::string linear = "Linear(" + std::to_string(D) + " -> " + std::to_string(C) + ")";
  const std::string head = loss_head_name(model.head);

  onnx::ModelProto m;
  m.set_ir_version(kOnnxIrVersion);
  onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");  // the default ai.onnx domain
  opset->set_version(kOnnxOpset);
  m.set_producer_name("logreg_cuda");
  m.set_producer_version("0.1.0");
  m.set_model_version(mf.epochs_done);
  m.set_doc_string("logreg_cuda " + linear + ", loss head " + head + ", " + std::to_string(mf.epochs_done) +
                   " epochs trained, seed " + std::to_string(mf.seed) + ", images " + std::to_string(mf.rows) + "x" +
                   std::to_string(mf.cols) + ". Input \"pixels\": float32 [N, " + std::to_string(D) +
                   "], raw pixel values 0-255 in row-major order (the graph divides by 255). Outputs: \"logits\" " +
                   "[N, " + std::to_string(C) + "] = pixels / 255 @ weight.T + bias, the predicted class being the " +
                   "argmax; \"probabilities\" [N, " + std::to_string(C) + "] = " + probabilities_doc(model.head) +
                   ". Training settings: " + mf.settings_json);
  add_metadata(&m, "loss_head", head);
  add_metadata(&m, "epochs_done", std::to_string(mf.epochs_done));
  add_metadata(&m, "seed", std::to_string(mf.seed));
  add_metadata(&m, "image_shape", std::to_string(mf.rows) + "x" + std::to_string(mf.cols));
  add_metadata(&m, "settings", mf.settings_json);

  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("logreg_cuda_linear");
  g->set_doc_string(linear + " with the " + head + " head");
  add_float_initializer(g, "pixel_max", {}, {255.0f});
  add_float_initializer(g, "weight", {C, D}, model.weights);
  add_float_initializer(g, "bias", {C}, model.bias);
  add_tensor_input_or_output(g->add_input(), kOnnxInputName, D,
                             "raw pixel values 0-255 as float32, one flattened image per row");

  add_node(g, "Div", "scale_pixels", {kOnnxInputName, "pixel_max"}, "x");
  onnx::NodeProto* gemm = add_node(g, "Gemm", "linear", {"x", "weight", "bias"}, kOnnxLogitsName);
  set_int_attribute(gemm, "transB", 1);
  switch (model.head) {
    case LossHead::kSoftmax:
      set_int_attribute(add_node(g, "Softmax", "softmax", {kOnnxLogitsName}, kOnnxProbabilitiesName), "axis", 1);
      break;
    case LossHead::kSigmoidSoftmax:
      add_node(g, "Sigmoid", "sigmoid", {kOnnxLogitsName}, "sigmoid_logits");
      set_int_attribute(add_node(g, "Softmax", "softmax", {"sigmoid_logits"}, kOnnxProbabilitiesName), "axis", 1);
      break;
    case LossHead::kOvr:
      add_node(g, "Sigmoid", "sigmoid", {kOnnxLogitsName}, kOnnxProbabilitiesName);
      break;
  }
  add_tensor_input_or_output(g->add_output(), kOnnxLogitsName, C, "pixels / 255 @ weight.T + bias; argmax = prediction");
  add_tensor_input_or_output(g->add_output(), kOnnxProbabilitiesName, C, probabilities_doc(model.head));

  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw std::runtime_error("ONNX export: protobuf serialization failed");
  return bytes;
}

}  // namespace logreg
