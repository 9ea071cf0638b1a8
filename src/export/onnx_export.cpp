// The ONNX export (include/logreg/export_onnx.hpp): builds the graph [Cast] -> [Div] -> [Sub -> Div -> Cast]
// -> Gemm -> head [-> ArgMax -> Gather] with the protobuf classes generated from Debian's onnx.proto (package onnx) and
// serializes the ModelProto.
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

// A float32 or float64 initializer (its raw_data little-endian, as the ONNX spec has it).
template <class Real>
onnx::TensorProto* add_initializer(onnx::GraphProto* g, const char* name, std::initializer_list<std::int64_t> dims,
                                   const std::vector<Real>& values) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(sizeof(Real) == 4 ? onnx::TensorProto::FLOAT : onnx::TensorProto::DOUBLE);
  for (std::int64_t d : dims) t->add_dims(d);
  t->set_raw_data(export_detail::ieee_bytes(values));
  return t;
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const char* op, const char* name, std::initializer_list<std::string> inputs,
                          const std::string& output) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const std::string& in : inputs) n->add_input(in);
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

// The label output of a feature model: int64 [N].
void add_label_output(onnx::ValueInfoProto* v) {
  v->set_name(kOnnxLabelName);
  v->set_doc_string("the predicted class's label: classes[argmax(logits)], the labels of the training data");
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::INT64);
  t->mutable_shape()->add_dim()->set_dim_param("N");
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
  // A feature model (class labels): input "features", the pixel scale only for uint8 features, the scaler, the labels.
  const bool features = !mf.class_labels.empty();
  const bool divide_255 = mf.pixel_scale != 1.0f;
  const std::string input = features ? kOnnxFeaturesName : kOnnxInputName;
  std::string x_text = divide_255 ? input + " / 255" : input;
  if (!mf.scaler.empty()) x_text = "(" + x_text + " - mean) / scale";
  const std::string input_doc =
      features ? std::string("feature values as float32, one row per sample") +
                     (divide_255 ? " (uint8 features 0-255: the graph divides by 255)" : " (as in the training file)")
               : std::string("raw pixel values 0-255 as float32, one flattened image per row");

  onnx::ModelProto m;
  m.set_ir_version(kOnnxIrVersion);
  onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");  // the default ai.onnx domain
  opset->set_version(kOnnxOpset);
  m.set_producer_name("logreg_cuda");
  m.set_producer_version("0.1.0");
  m.set_model_version(mf.epochs_done);
  const std::string what = features ? std::string("features") + (mf.scaler.empty() ? "" : ", standardised")
                                    : "images " + std::to_string(mf.rows) + "x" + std::to_string(mf.cols);
  m.set_doc_string("logreg_cuda " + linear + ", loss head " + head + ", " + std::to_string(mf.epochs_done) +
                   " epochs trained, seed " + std::to_string(mf.seed) + ", " + what + ". Input \"" + input +
                   "\": float32 [N, " + std::to_string(D) + "], " +
                   (features ? input_doc : "raw pixel values 0-255 in row-major order (the graph divides by 255)") +
                   ". Outputs: \"logits\" [N, " +
                   std::to_string(C) + "] = " + x_text + " @ weight.T + bias, the predicted class being the argmax; \"" +
                   "probabilities\" [N, " + std::to_string(C) + "] = " + probabilities_doc(model.head) +
                   (features ? "; \"label\" [N] int64 = classes[argmax(logits)]" : "") +
                   ". Training settings: " + mf.settings_json);
  add_metadata(&m, "loss_head", head);
  add_metadata(&m, "epochs_done", std::to_string(mf.epochs_done));
  add_metadata(&m, "seed", std::to_string(mf.seed));
  add_metadata(&m, "image_shape", std::to_string(mf.rows) + "x" + std::to_string(mf.cols));
  add_metadata(&m, "settings", mf.settings_json);

  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("logreg_cuda_linear");
  g->set_doc_string(linear + " with the " + head + " head");
  // The scaler works in double, as training did: a float32 mean of 50 is off by 4e-6, which a feature's scale of
  // 1e-3 would turn into 4e-3 of its standardised value.
  const bool scaled = !mf.scaler.empty();
  if (divide_255 && !scaled) add_initializer(g, "pixel_max", {}, std::vector<float>{255.0f});
  if (divide_255 && scaled) add_initializer(g, "pixel_max", {}, std::vector<double>{255.0});
  if (scaled) {
    add_initializer(g, "mean", {D}, mf.scaler.mean);
    add_initializer(g, "scale", {D}, mf.scaler.scale);
  }
  add_initializer(g, "weight", {C, D}, model.weights);
  add_initializer(g, "bias", {C}, model.bias);
  add_tensor_input_or_output(g->add_input(), input.c_str(), D, input_doc);

  std::string x = input;
  if (scaled) {
    set_int_attribute(add_node(g, "Cast", "to_double", {x}, "x_double"), "to", onnx::TensorProto::DOUBLE);
    x = "x_double";
  }
  if (divide_255) {
    add_node(g, "Div", "scale_pixels", {x, "pixel_max"}, features ? "x_unit" : "x");
    x = features ? "x_unit" : "x";
  }
  if (scaled) {
    add_node(g, "Sub", "centre", {x, "mean"}, "x_centred");
    add_node(g, "Div", "standardise", {"x_centred", "scale"}, "x_standardised");
    set_int_attribute(add_node(g, "Cast", "to_float", {"x_standardised"}, "x"), "to", onnx::TensorProto::FLOAT);
    x = "x";
  }
  onnx::NodeProto* gemm = add_node(g, "Gemm", "linear", {x, "weight", "bias"}, kOnnxLogitsName);
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
  add_tensor_input_or_output(g->add_output(), kOnnxLogitsName, C, x_text + " @ weight.T + bias; argmax = prediction");
  add_tensor_input_or_output(g->add_output(), kOnnxProbabilitiesName, C, probabilities_doc(model.head));
  if (features) {
    onnx::TensorProto* classes = g->add_initializer();
    classes->set_name("classes");
    classes->set_data_type(onnx::TensorProto::INT64);
    classes->add_dims(C);
    classes->set_raw_data(export_detail::int64_bytes(mf.class_labels));
    onnx::NodeProto* argmax = add_node(g, "ArgMax", "argmax", {kOnnxLogitsName}, "class_index");
    set_int_attribute(argmax, "axis", 1);
    set_int_attribute(argmax, "keepdims", 0);
    set_int_attribute(add_node(g, "Gather", "label_of_class", {"classes", "class_index"}, kOnnxLabelName), "axis", 0);
    add_label_output(g->add_output());
  }

  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw std::runtime_error("ONNX export: protobuf serialization failed");
  return bytes;
}

}  // namespace logreg
