// The export writers and the safetensors reader (include/logreg/export*.hpp) byte by byte: safetensors
// header and data, .npy headers and the stored zip of the .npz, the ONNX graph read back with the same
// generated protobuf classes (a feature model's scaler nodes and label output too), and every rejection of a
// bad safetensors file. Real clients (onnxruntime, PyTorch, scikit-learn) check the files in
// tests/python/test_export.py and tests/python/test_standardize.py.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logreg/errors.hpp"
#include "logreg/export.hpp"
#include "logreg/export_npz.hpp"
#include "logreg/export_onnx.hpp"
#include "logreg/export_safetensors.hpp"
#include "onnx.pb.h"
#include "test_support.hpp"

namespace logreg {
namespace {

std::uint64_t LeAt(const std::string& s, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s.at(at + static_cast<std::size_t>(i)));
  return v;
}
std::uint64_t U64At(const std::string& s, std::size_t at) { return LeAt(s, at, 8); }
std::uint32_t U32At(const std::string& s, std::size_t at) { return static_cast<std::uint32_t>(LeAt(s, at, 4)); }
std::uint16_t U16At(const std::string& s, std::size_t at) { return static_cast<std::uint16_t>(LeAt(s, at, 2)); }

float F32At(const std::string& s, std::size_t at) {
  const std::uint32_t bits = U32At(s, at);
  float v = 0.0f;
  std::memcpy(&v, &bits, 4);
  return v;
}

// 3 classes over 2x2 images with distinct, exactly representable values.
ModelFile SmallModel(LossHead head = LossHead::kSoftmax) {
  ModelFile mf;
  mf.rows = 2;
  mf.cols = 2;
  mf.model.input_dim = 4;
  mf.model.num_classes = 3;
  mf.model.head = head;
  for (int i = 0; i < 12; ++i) mf.model.weights.push_back(0.25f * static_cast<float>(i) - 1.0f);
  mf.model.bias = {0.5f, -0.5f, 1.5f};
  mf.epochs_done = 7;
  mf.seed = 42;
  mf.settings_json = R"({"lr":0.1,"batch_size":32})";
  return mf;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A safetensors file from a header JSON and data bytes, the header padded as the writer pads it.
std::string Safetensors(const nlohmann::json& header, const std::string& data) {
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((text.size() >> (8 * i)) & 0xFF));
  return out + text + data;
}

std::string Floats(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());  // x86-64 is little-endian, as the format
  return s;
}

TEST(ExportFormats, NameTableParsesNamesAndExtensions) {
  for (const ExportFormatName& f : kExportFormats) {
    ExportFormat parsed{};
    ASSERT_TRUE(parse_export_format(f.name, &parsed));
    EXPECT_EQ(parsed, f.format);
    EXPECT_STREQ(export_format_name(f.format), f.name);
    ASSERT_TRUE(export_format_of_path(std::string("dir/model") + f.extension, &parsed));
    EXPECT_EQ(parsed, f.format);
  }
  ExportFormat f{};
  EXPECT_FALSE(parse_export_format("tflite", &f));
  EXPECT_FALSE(export_format_of_path("model.bin", &f));
  EXPECT_FALSE(export_format_of_path(".onnx", &f));  // an extension alone is no file name
  EXPECT_EQ(export_format_list(), "onnx, safetensors or npz");
}

TEST(ExportFormats, InconsistentModelIsRejectedByEveryWriter) {
  ModelFile mf = SmallModel();
  mf.rows = 3;  // 3x2 != 4 inputs
  for (const ExportFormatName& f : kExportFormats) {
    EXPECT_TRUE(test::ThrowsWith<std::invalid_argument>([&] { export_model_bytes(mf, f.format); }, {"3x2", "4 inputs"}))
        << f.name;
  }
  mf = SmallModel();
  mf.model.bias.pop_back();
  EXPECT_TRUE(test::ThrowsWith<std::invalid_argument>([&] { safetensors_model_bytes(mf); }, {"2 biases", "expected 12 and 3"}));
}

TEST(SafetensorsWriter, HeaderAndDataBytes) {
  const ModelFile mf = SmallModel(LossHead::kOvr);
  const std::string bytes = safetensors_model_bytes(mf);
  const std::uint64_t n = U64At(bytes, 0);
  EXPECT_EQ(n % 8, 0u);  // data 8-byte aligned
  ASSERT_EQ(bytes.size(), 8 + n + 4 * 12 + 4 * 3);
  const nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(h["weight"], nlohmann::json::parse(R"({"dtype":"F32","shape":[3,4],"data_offsets":[0,48]})"));
  EXPECT_EQ(h["bias"], nlohmann::json::parse(R"({"dtype":"F32","shape":[3],"data_offsets":[48,60]})"));
  const nlohmann::json& meta = h["__metadata__"];
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta["loss_head"], "ovr");
  EXPECT_EQ(meta["rows"], "2");
  EXPECT_EQ(meta["cols"], "2");
  EXPECT_EQ(meta["epochs_done"], "7");
  EXPECT_EQ(meta["seed"], "42");
  EXPECT_EQ(meta["settings"], mf.settings_json);
  for (const auto& item : meta.items()) EXPECT_TRUE(item.value().is_string()) << item.key();  // the format's rule
  const std::size_t data = 8 + n;
  EXPECT_EQ(F32At(bytes, data), -1.0f);            // weight[0][0]
  EXPECT_EQ(F32At(bytes, data + 4 * 11), 1.75f);   // weight[2][3]
  EXPECT_EQ(F32At(bytes, data + 48), 0.5f);        // bias[0]
  EXPECT_EQ(F32At(bytes, data + 56), 1.5f);        // bias[2]
}

TEST(SafetensorsReader, RoundTripKeepsEverything) {
  const test::TempDir dir;
  for (LossHead head : {LossHead::kSoftmax, LossHead::kSigmoidSoftmax, LossHead::kOvr}) {
    const ModelFile mf = SmallModel(head);
    const std::string path = dir.file("m.safetensors");
    WriteBytes(path, safetensors_model_bytes(mf));
    const ModelFile back = load_safetensors_model(path);
    EXPECT_EQ(back.model.weights, mf.model.weights);
    EXPECT_EQ(back.model.bias, mf.model.bias);
    EXPECT_EQ(back.model.head, head);
    EXPECT_EQ(back.model.input_dim, 4);
    EXPECT_EQ(back.model.num_classes, 3);
    EXPECT_EQ(back.rows, 2u);
    EXPECT_EQ(back.cols, 2u);
    EXPECT_EQ(back.epochs_done, 7u);
    EXPECT_EQ(back.seed, 42u);
    EXPECT_EQ(back.settings_json, mf.settings_json);
  }
}

TEST(SafetensorsReader, TakesAPyTorchModuleStateDict) {
  // The tutorial's model: self.linear = nn.Linear(784, 10), so the keys are "linear.weight" / "linear.bias",
  // with no metadata of ours, and the tensors in the order PyTorch's writer chose.
  std::vector<float> w(10 * 784), b(10);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 97) / 97.0f - 0.5f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i) * 0.125f;
  nlohmann::json h;
  h["__metadata__"] = {{"format", "pt"}};
  h["linear.bias"] = {{"dtype", "F32"}, {"shape", {10}}, {"data_offsets", {0, 40}}};
  h["linear.weight"] = {{"dtype", "F32"}, {"shape", {10, 784}}, {"data_offsets", {40, 40 + 4 * 7840}}};
  const test::TempDir dir;
  const std::string path = dir.file("tutorial.bin");  // judged by its bytes, not its name
  WriteBytes(path, Safetensors(h, Floats(b) + Floats(w)));
  ASSERT_TRUE(is_safetensors_path(path));
  const ModelFile mf = load_any_model_file(path);
  EXPECT_EQ(mf.model.weights, w);
  EXPECT_EQ(mf.model.bias, b);
  EXPECT_EQ(mf.model.head, LossHead::kSoftmax);
  EXPECT_EQ(mf.rows, 28u);  // 784 is a square
  EXPECT_EQ(mf.cols, 28u);
  EXPECT_EQ(mf.epochs_done, 0u);

  const Model init = load_safetensors_initial_model(path, 784, 10, LossHead::kSigmoidSoftmax);
  EXPECT_EQ(init.head, LossHead::kSigmoidSoftmax);
  EXPECT_EQ(init.weights, w);
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { load_safetensors_initial_model(path, 784, 4, LossHead::kSoftmax); },
                                          {path, "Linear(784 -> 10)", "Linear(784 -> 4)"}));
}

TEST(SafetensorsReader, LoadAnyModelFileTellsTheFormatsApart) {
  const test::TempDir dir;
  const ModelFile mf = SmallModel(LossHead::kOvr);
  save_model_file(dir.file("m.lrm"), mf);
  WriteBytes(dir.file("m.st"), safetensors_model_bytes(mf));
  EXPECT_FALSE(is_safetensors_path(dir.file("m.lrm")));
  EXPECT_TRUE(is_safetensors_path(dir.file("m.st")));                // by its bytes
  EXPECT_TRUE(is_safetensors_path(dir.file("missing.safetensors")));  // by its name
  EXPECT_FALSE(is_safetensors_path(dir.file("missing.lrm")));
  for (const char* name : {"m.lrm", "m.st"}) {
    const ModelFile back = load_any_model_file(dir.file(name));
    EXPECT_EQ(back.model.weights, mf.model.weights) << name;
    EXPECT_EQ(back.model.head, LossHead::kOvr) << name;
    EXPECT_EQ(back.epochs_done, 7u) << name;
  }
}

TEST(SafetensorsReader, RejectsBadFilesNamingTheProblem) {
  const test::TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string w = Floats(std::vector<float>(12, 0.5f));
  const std::string b = Floats({1.0f, 2.0f, 3.0f});
  const nlohmann::json good = nlohmann::json::parse(
      R"({"weight":{"dtype":"F32","shape":[3,4],"data_offsets":[0,48]},"bias":{"dtype":"F32","shape":[3],"data_offsets":[48,60]}})");
  auto expect = [&](const std::string& bytes, const std::vector<std::string>& words) {
    WriteBytes(path, bytes);
    std::vector<std::string> all = words;
    all.push_back(path);
    EXPECT_TRUE(test::ThrowsWith<DataError>([&] { load_safetensors_model(path); }, all));
  };
  WriteBytes(path, Safetensors(good, w + b));
  ASSERT_NO_THROW(load_safetensors_model(path));

  expect("", {"8-byte length"});
  expect(std::string("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10), {"header length at byte 0", "255 bytes"});
  expect(Safetensors(good, w + b).substr(0, 30), {"header length at byte 0", "truncated"});
  {
    std::string s = Safetensors(good, w + b);
    s[8] = '[';
    expect(s, {"not valid JSON"});
  }
  nlohmann::json h = good;
  h["bias"]["data_offsets"] = {48, 64};
  expect(Safetensors(h, w + b), {"\"bias\"", "[48, 64]", "outside the 60 data bytes"});
  h = good;
  h["weight"]["shape"] = {3, 5};
  expect(Safetensors(h, w + b), {"\"weight\"", "needs 60 bytes", "give 48"});
  h = good;
  h["weight"]["dtype"] = "F16";
  h["weight"]["shape"] = {3, 8};
  expect(Safetensors(h, w + b), {"\"weight\" is F16, expected F32"});
  h = good;
  h["weight"]["dtype"] = "Q4";
  expect(Safetensors(h, w + b), {"unknown dtype \"Q4\""});
  h = good;
  h.erase("bias");
  expect(Safetensors(h, w), {"no \"bias\" tensor"});
  h = good;
  h["fc.weight"] = h["weight"];
  h["fc.weight"]["data_offsets"] = {60, 108};
  expect(Safetensors(h, w + b + w), {"more than one weight tensor", "fc.weight"});
  // What the reference implementation refuses: tensors that overlap, leave a gap or leave bytes after the
  // last; a byte-order mark; a key twice; nesting deeper than a header has. Echoed values stay short, and no
  // JSON library's text reaches the message.
  h = good;
  h["bias"]["data_offsets"] = {36, 48};
  h["bias"]["shape"] = {3};
  expect(Safetensors(h, w + b), {"\"bias\": data_offsets begin at 36, expected 48", "overlaps"});
  h = good;
  h["bias"]["data_offsets"] = {52, 64};
  expect(Safetensors(h, w + Floats({0.0f}) + b), {"\"bias\": data_offsets begin at 52, expected 48", "a gap"});
  expect(Safetensors(good, w + b + std::string(8, '\0')), {"8 bytes after the last tensor"});
  {
    const std::string text = "\xEF\xBB\xBF" + good.dump();
    std::string s8(8, '\0');
    for (int i = 0; i < 8; ++i) s8[static_cast<std::size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
    expect(s8 + text + w + b, {"byte-order mark"});
    const std::string twice = R"({"__metadata__":{"a":"1"},"__metadata__":{"a":"2"},)" + good.dump().substr(1);
    for (int i = 0; i < 8; ++i) s8[static_cast<std::size_t>(i)] = static_cast<char>((twice.size() >> (8 * i)) & 0xff);
    expect(s8 + twice + w + b, {"the key \"__metadata__\" more than once"});
    const std::string deep = R"({"weight":{"dtype":"F32","shape":)" + std::string(85000, '[') + std::string(85000, ']') + "}}";
    for (int i = 0; i < 8; ++i) s8[static_cast<std::size_t>(i)] = static_cast<char>((deep.size() >> (8 * i)) & 0xff);
    WriteBytes(path, s8 + deep);
    try {
      load_safetensors_model(path);
      ADD_FAILURE() << "a header nested 85,000 deep was accepted";
    } catch (const DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("nested deeper than 3 levels"), std::string::npos) << what.substr(0, 300);
      EXPECT_LT(what.size(), 300u) << "the message echoes the header";
    }
  }
  h = good;
  h["weight"]["shape"] = nlohmann::json::array();
  for (int i = 0; i < 1000; ++i) h["weight"]["shape"].push_back(-1);
  WriteBytes(path, Safetensors(h, w + b));
  try {
    load_safetensors_model(path);
    ADD_FAILURE() << "a negative shape was accepted";
  } catch (const DataError& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u) << e.what();
  }
  {
    std::string s = Safetensors(good, w + b);
    s[20] = '\x01';
    WriteBytes(path, s);
    try {
      load_safetensors_model(path);
      ADD_FAILURE() << "a control byte in the header was accepted";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("not valid JSON (at byte"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
    }
  }
  h = nlohmann::json::parse(R"({"emb":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})");
  expect(Safetensors(h, b), {"no \"weight\" tensor", "emb"});
  h = good;
  h["bias"]["shape"] = {1, 3};
  expect(Safetensors(h, w + b), {"\"bias\" has shape [1, 3], expected [3]"});
  h = good;
  h["__metadata__"] = {{"loss_head", "hinge"}};
  expect(Safetensors(h, w + b), {"loss_head", "hinge"});
  h = good;
  h["__metadata__"] = {{"rows", "3"}, {"cols", "3"}};
  expect(Safetensors(h, w + b), {"3x3", "4 columns"});
  {
    std::vector<float> nan_w(12, 0.5f);
    nan_w[5] = std::numeric_limits<float>::quiet_NaN();
    expect(Safetensors(good, Floats(nan_w) + b), {"\"weight\" element 5", "not finite"});
  }
  h = nlohmann::json::parse(R"({"weight":{"dtype":"F32","shape":[300,1],"data_offsets":[0,1200]},)"
                            R"("bias":{"dtype":"F32","shape":[300],"data_offsets":[1200,2400]}})");
  expect(Safetensors(h, std::string(2400, '\0')), {"300 classes", "more than 256"});
  EXPECT_TRUE(test::ThrowsWith<DataError>([&] { load_safetensors_model(dir.file("missing.safetensors")); },
                                          {"missing.safetensors", "cannot open"}));
}

TEST(NpyWriter, HeaderIsNumpysVersion1Layout) {
  const std::string npy = npy_bytes("<f4", {3, 4}, std::string(48, '\x01'));
  ASSERT_EQ(npy.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::uint16_t header_len = U16At(npy, 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header = npy.substr(10, header_len);
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 0), 0u);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(npy.size(), 10u + header_len + 48u);
  EXPECT_NE(npy_bytes("<i8", {5}, std::string(40, '\0')).find("'shape': (5,), }"), std::string::npos);
  EXPECT_NE(npy_bytes("<f8", {}, std::string(8, '\0')).find("'shape': (), }"), std::string::npos);
}

// Reads a stored zip's central directory: name -> contents (checks each local header and CRC on the way).
std::map<std::string, std::string> ReadStoredZip(const std::string& zip) {
  std::map<std::string, std::string> files;
  const std::size_t eocd = zip.size() - 22;
  EXPECT_EQ(U32At(zip, eocd), 0x06054b50u);
  const std::uint16_t entries = U16At(zip, eocd + 10);
  std::size_t at = U32At(zip, eocd + 16);
  EXPECT_EQ(at + U32At(zip, eocd + 12), eocd);  // the central directory ends where the end record starts
  for (std::uint16_t i = 0; i < entries; ++i) {
    EXPECT_EQ(U32At(zip, at), 0x02014b50u);
    EXPECT_EQ(U16At(zip, at + 10), 0u);  // stored
    const std::uint32_t crc = U32At(zip, at + 16), size = U32At(zip, at + 20);
    EXPECT_EQ(U32At(zip, at + 24), size);
    const std::uint16_t name_len = U16At(zip, at + 28);
    const std::string name = zip.substr(at + 46, name_len);
    const std::size_t local = U32At(zip, at + 42);
    EXPECT_EQ(U32At(zip, local), 0x04034b50u);
    EXPECT_EQ(U32At(zip, local + 14), crc);
    EXPECT_EQ(zip.substr(local + 30, name_len), name);
    const std::string contents = zip.substr(local + 30 + name_len + U16At(zip, local + 28), size);
    EXPECT_EQ(static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const unsigned char*>(contents.data()),
                                               static_cast<unsigned>(contents.size()))),
              crc)
        << name;
    files[name] = contents;
    at += 46 + name_len;
  }
  return files;
}

TEST(NpzWriter, StoredZipOfTheFourArrays) {
  const ModelFile mf = SmallModel();
  const std::map<std::string, std::string> files = ReadStoredZip(npz_model_bytes(mf));
  ASSERT_EQ(files.size(), 4u);
  auto data_of = [&](const std::string& name, const std::string& header_start) {
    const std::string& npy = files.at(name);
    const std::uint16_t len = U16At(npy, 8);
    EXPECT_EQ(npy.substr(10, header_start.size()), header_start) << name;
    return npy.substr(10 + len);
  };
  const std::string coef = data_of("coef_.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }");
  ASSERT_EQ(coef.size(), 48u);
  EXPECT_EQ(F32At(coef, 4 * 5), mf.model.weights[5]);
  const std::string intercept = data_of("intercept_.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
  EXPECT_EQ(F32At(intercept, 8), 1.5f);
  const std::string classes = data_of("classes_.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
  EXPECT_EQ(U64At(classes, 0), 0u);
  EXPECT_EQ(U64At(classes, 16), 2u);
  const std::string scale = data_of("scale.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
  double s = 0.0;
  std::memcpy(&s, scale.data(), 8);
  EXPECT_EQ(s, 1.0 / 255.0);
}

TEST(OnnxWriter, GraphFieldsPerHead) {
  const std::vector<std::pair<LossHead, std::vector<std::string>>> cases = {
      {LossHead::kSoftmax, {"Div", "Gemm", "Softmax"}},
      {LossHead::kSigmoidSoftmax, {"Div", "Gemm", "Sigmoid", "Softmax"}},
      {LossHead::kOvr, {"Div", "Gemm", "Sigmoid"}},
  };
  for (const auto& [head, ops] : cases) {
    const ModelFile mf = SmallModel(head);
    onnx::ModelProto m;
    ASSERT_TRUE(m.ParseFromString(onnx_model_bytes(mf)));
    EXPECT_EQ(m.ir_version(), kOnnxIrVersion);
    ASSERT_EQ(m.opset_import_size(), 1);
    EXPECT_EQ(m.opset_import(0).domain(), "");
    EXPECT_EQ(m.opset_import(0).version(), 13);
    EXPECT_EQ(m.producer_name(), "logreg_cuda");
    EXPECT_NE(m.doc_string().find(std::string("loss head ") + loss_head_name(head)), std::string::npos);
    EXPECT_NE(m.doc_string().find("Training settings: " + mf.settings_json), std::string::npos);
    const onnx::GraphProto& g = m.graph();
    ASSERT_EQ(g.input_size(), 1);
    EXPECT_EQ(g.input(0).name(), "pixels");
    const onnx::TypeProto_Tensor& in = g.input(0).type().tensor_type();
    EXPECT_EQ(in.elem_type(), onnx::TensorProto::FLOAT);
    ASSERT_EQ(in.shape().dim_size(), 2);
    EXPECT_EQ(in.shape().dim(0).dim_param(), "N");
    EXPECT_EQ(in.shape().dim(1).dim_value(), 4);
    ASSERT_EQ(g.output_size(), 2);
    EXPECT_EQ(g.output(0).name(), "logits");
    EXPECT_EQ(g.output(1).name(), "probabilities");
    EXPECT_EQ(g.output(1).type().tensor_type().shape().dim(1).dim_value(), 3);
    std::vector<std::string> got;
    for (const onnx::NodeProto& n : g.node()) got.push_back(n.op_type());
    EXPECT_EQ(got, ops) << loss_head_name(head);
    const onnx::NodeProto& gemm = g.node(1);
    EXPECT_EQ(gemm.input(0), "x");
    ASSERT_EQ(gemm.attribute_size(), 1);
    EXPECT_EQ(gemm.attribute(0).name(), "transB");
    EXPECT_EQ(gemm.attribute(0).i(), 1);
    EXPECT_EQ(g.node().rbegin()->output(0), "probabilities");
    std::map<std::string, const onnx::TensorProto*> init;
    for (const onnx::TensorProto& t : g.initializer()) init[t.name()] = &t;
    ASSERT_EQ(init.size(), 3u);
    EXPECT_EQ(init["pixel_max"]->dims_size(), 0);
    EXPECT_EQ(F32At(init["pixel_max"]->raw_data(), 0), 255.0f);
    ASSERT_EQ(init["weight"]->dims_size(), 2);
    EXPECT_EQ(init["weight"]->dims(0), 3);
    EXPECT_EQ(init["weight"]->dims(1), 4);
    EXPECT_EQ(init["weight"]->raw_data(), Floats(mf.model.weights));
    EXPECT_EQ(init["bias"]->raw_data(), Floats(mf.model.bias));
  }
}


// SmallModel as a feature model: labels -1, 4, 10 over 4 float features, standardised.
ModelFile SmallFeatureModel() {
  ModelFile mf = SmallModel();
  mf.rows = 1;
  mf.cols = 4;
  mf.class_labels = {-1, 4, 10};
  mf.pixel_scale = 1.0f;
  mf.scaler.mean = {0.5, -2.0, 0.0, 1.0 / 3.0};
  mf.scaler.scale = {2.0, 1.0, 0.25, 3.0};
  return mf;
}

TEST(OnnxWriter, FeatureModelStandardisesAndOutputsLabels) {
  ModelFile mf = SmallFeatureModel();
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(onnx_model_bytes(mf)));
  const onnx::GraphProto& g = m.graph();
  ASSERT_EQ(g.input_size(), 1);
  EXPECT_EQ(g.input(0).name(), "features");
  std::vector<std::string> ops, outputs;
  for (const onnx::NodeProto& n : g.node()) ops.push_back(n.op_type());
  for (const onnx::ValueInfoProto& o : g.output()) outputs.push_back(o.name());
  EXPECT_EQ(ops, (std::vector<std::string>{"Cast", "Sub", "Div", "Cast", "Gemm", "Softmax", "ArgMax", "Gather"}));
  EXPECT_EQ(outputs, (std::vector<std::string>{"logits", "probabilities", "label"}));
  EXPECT_EQ(g.output(2).type().tensor_type().elem_type(), onnx::TensorProto::INT64);
  EXPECT_EQ(g.node(0).input(0), "features");
  EXPECT_EQ(g.node(1).input(1), "mean");
  EXPECT_EQ(g.node(2).input(1), "scale");
  EXPECT_EQ(g.node(4).input(0), "x");
  EXPECT_EQ(g.node(7).input(0), "classes");
  std::map<std::string, const onnx::TensorProto*> init;
  for (const onnx::TensorProto& t : g.initializer()) init[t.name()] = &t;
  ASSERT_EQ(init.size(), 5u);  // mean, scale, weight, bias, classes: no pixel_max for float features
  // The scaler in double, exactly the model file's.
  EXPECT_EQ(init["mean"]->data_type(), onnx::TensorProto::DOUBLE);
  double third = 0.0;
  std::memcpy(&third, init["mean"]->raw_data().data() + 24, 8);
  EXPECT_EQ(third, 1.0 / 3.0);
  EXPECT_EQ(U64At(init["scale"]->raw_data(), 16), 0x3FD0000000000000u);  // 0.25 as binary64
  EXPECT_EQ(init["classes"]->data_type(), onnx::TensorProto::INT64);
  EXPECT_EQ(static_cast<std::int64_t>(U64At(init["classes"]->raw_data(), 0)), -1);
  EXPECT_EQ(U64At(init["classes"]->raw_data(), 16), 10u);
  EXPECT_NE(m.doc_string().find("(features - mean) / scale @ weight.T + bias"), std::string::npos) << m.doc_string();
  // uint8 features without a scaler: Div by 255, then the Gemm, and the labels still.
  mf.scaler = FeatureScaler{};
  mf.pixel_scale = kModelFilePixelScale;
  ASSERT_TRUE(m.ParseFromString(onnx_model_bytes(mf)));
  ops.clear();
  for (const onnx::NodeProto& n : m.graph().node()) ops.push_back(n.op_type());
  EXPECT_EQ(ops, (std::vector<std::string>{"Div", "Gemm", "Softmax", "ArgMax", "Gather"}));
  EXPECT_EQ(m.graph().node(1).input(0), "x_unit");
}

TEST(SafetensorsReader, FeatureModelKeepsLabelsScalerAndPixelScale) {
  test::TempDir dir;
  const ModelFile mf = SmallFeatureModel();
  const std::string bytes = safetensors_model_bytes(mf);
  const std::uint64_t n = U64At(bytes, 0);
  const nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(h["classes"], nlohmann::json::parse(R"({"dtype":"I64","shape":[3],"data_offsets":[60,84]})"));
  EXPECT_EQ(h["mean"], nlohmann::json::parse(R"({"dtype":"F64","shape":[4],"data_offsets":[84,116]})"));
  EXPECT_EQ(h["scale"], nlohmann::json::parse(R"({"dtype":"F64","shape":[4],"data_offsets":[116,148]})"));
  EXPECT_EQ(h["__metadata__"]["pixel_scale"], "1");
  WriteBytes(dir.file("f.safetensors"), bytes);
  const ModelFile back = load_safetensors_model(dir.file("f.safetensors"));
  EXPECT_EQ(back.class_labels, mf.class_labels);
  EXPECT_EQ(back.scaler.mean, mf.scaler.mean);
  EXPECT_EQ(back.scaler.scale, mf.scaler.scale);
  EXPECT_EQ(back.pixel_scale, 1.0f);
  EXPECT_EQ(back.model.weights, mf.model.weights);
  // A scale of 0 and a scaler without its other half are refused by name.
  std::string zero = bytes;
  std::memset(zero.data() + 8 + n + 116 + 8, 0, 8);
  WriteBytes(dir.file("zero.safetensors"), zero);
  try {
    load_safetensors_model(dir.file("zero.safetensors"));
    ADD_FAILURE() << "a zero scale was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("scaler feature 1"), std::string::npos) << e.what();
  }
  nlohmann::json half = h;
  half.erase("scale");
  half.erase("__metadata__");
  WriteBytes(dir.file("half.safetensors"), Safetensors(half, bytes.substr(8 + n, 116)));
  try {
    load_safetensors_model(dir.file("half.safetensors"));
    ADD_FAILURE() << "a mean without a scale was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor \"mean\" without \"scale\""), std::string::npos) << e.what();
  }
}

TEST(NpzWriter, FeatureModelAddsLabelsAndStandardScalerArrays) {
  const ModelFile mf = SmallFeatureModel();
  const std::map<std::string, std::string> files = ReadStoredZip(npz_model_bytes(mf));
  ASSERT_EQ(files.size(), 6u);
  const std::string& mean = files.at("mean_.npy");
  EXPECT_NE(mean.find("'descr': '<f8', 'fortran_order': False, 'shape': (4,)"), std::string::npos);
  double v = 0.0;
  std::memcpy(&v, mean.data() + mean.size() - 8, 8);
  EXPECT_EQ(v, 1.0 / 3.0);
  const std::string& scale = files.at("scale_.npy");
  std::memcpy(&v, scale.data() + scale.size() - 32, 8);
  EXPECT_EQ(v, 2.0);
  const std::string& classes = files.at("classes_.npy");
  EXPECT_EQ(static_cast<std::int64_t>(U64At(classes, classes.size() - 24)), -1);
}

}  // namespace
}  // namespace logreg
