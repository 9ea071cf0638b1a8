// A stand-in for the CUDA run-time module, for the loader's tests (test_cuda_module.cpp): loading it creates
// the file $LOGREG_FAKE_MODULE_MARKER (so a test sees whether a command loaded a module at all). Built twice:
// with entry points that carry another build's ABI tag (LOGREG_FAKE_WITH_ENTRIES), and bare.
#include <cstdio>
#include <cstdlib>

namespace {

struct LoadMarker {
  LoadMarker() {
    const char* path = std::getenv("LOGREG_FAKE_MODULE_MARKER");
    if (path == nullptr) return;
    if (FILE* f = std::fopen(path, "w")) std::fclose(f);
  }
};
const LoadMarker marker;

}  // namespace

#ifdef LOGREG_FAKE_WITH_ENTRIES
extern "C" {
__attribute__((visibility("default"))) const char* logreg_cuda_module_abi() { return "logreg_cuda_module 0 another build"; }
__attribute__((visibility("default"))) void logreg_cuda_module_probe(void*) { std::abort(); }
__attribute__((visibility("default"))) void* logreg_cuda_module_make() {
  std::abort();
  return nullptr;
}
__attribute__((visibility("default"))) void* logreg_cuda_module_make_full_batch() {
  std::abort();
  return nullptr;
}
__attribute__((visibility("default"))) void* logreg_cuda_module_make_feature_sgd() {
  std::abort();
  return nullptr;
}
__attribute__((visibility("default"))) void* logreg_cuda_module_make_feature_parts() {
  std::abort();
  return nullptr;
}
}
#endif
