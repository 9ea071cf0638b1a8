// The emulated device itself and the runtime's bookkeeping calls: error names and strings, the last error
// (sticky after a fault), device count, selection, properties and attributes (compute capability 9.0, or
// LOGREG_EMU_CC), occupancy (blocks and clusters), whole-device synchronisation and reset, versions, kernel
// attributes and the profiler calls (no-ops).
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

#include "runtime_state.hpp"

using namespace cuda_emu::detail;

namespace {

struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;
};

const ErrorText kErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorCudartUnloading, "cudaErrorCudartUnloading", "driver shutting down"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorNoKernelImageForDevice, "cudaErrorNoKernelImageForDevice",
     "no kernel image is available for execution on the device"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorDevicesUnavailable, "cudaErrorDevicesUnavailable", "CUDA-capable device(s) is/are busy or unavailable"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the operation cannot be performed in the present state"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorLaunchTimeout, "cudaErrorLaunchTimeout", "the launch timed out and was terminated"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated",
     "operation failed due to a previous error during capture"},
    {cudaErrorStreamCaptureIsolation, "cudaErrorStreamCaptureIsolation",
     "dependency created on uncaptured work in another stream"},
    {cudaErrorStreamCaptureImplicit, "cudaErrorStreamCaptureImplicit",
     "operation would make the legacy stream depend on a capturing blocking stream"},
    {cudaErrorStreamCaptureWrongThread, "cudaErrorStreamCaptureWrongThread",
     "attempt to terminate a thread-local capture sequence from another thread"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorCooperativeLaunchTooLarge, "cudaErrorCooperativeLaunchTooLarge",
     "too many blocks in cooperative launch"},
    {cudaErrorInvalidClusterSize, "cudaErrorInvalidClusterSize", "invalid cluster size"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

const ErrorText* find_error(cudaError_t err) {
  for (const ErrorText& e : kErrors) {
    if (e.code == err) return &e;
  }
  return nullptr;
}

}  // namespace

extern "C" {

const char* cudaGetErrorName(cudaError_t err) {
  const ErrorText* e = find_error(err);
  return e != nullptr ? e->name : "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t err) {
  const ErrorText* e = find_error(err);
  return e != nullptr ? e->text : "unrecognized error code";
}

cudaError_t cudaGetLastError(void) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  if (device().sticky != cudaSuccess) return device().sticky;
  const cudaError_t err = tls_last_error;
  tls_last_error = cudaSuccess;
  return err;
}

cudaError_t cudaPeekAtLastError(void) {
  std::lock_guard<std::recursive_mutex> guard(device().lock);
  return device().sticky != cudaSuccess ? device().sticky : tls_last_error;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return result(cudaErrorInvalidValue);
  const std::size_t n = env_bytes("LOGREG_EMU_DEVICES", 1);
  *count = n > 0 ? 1 : 0;
  return result(n > 0 ? cudaSuccess : cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int dev) {
  EMU_ENTER();
  if (dev != 0) return result(cudaErrorInvalidDevice);
  device().current_device = dev;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* dev) {
  EMU_ENTER();
  if (dev == nullptr) return result(cudaErrorInvalidValue);
  *dev = device().current_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int dev) {
  EMU_ENTER();
  if (prop == nullptr) return result(cudaErrorInvalidValue);
  if (dev != 0) return result(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "%s", "logreg_cuda emulated device (CPU)");
  prop->major = compute_capability() / 10;
  prop->minor = compute_capability() % 10;
  prop->totalGlobalMem = total_bytes();
  prop->sharedMemPerBlock = kDefaultSharedBytes;
  prop->sharedMemPerBlockOptin = shared_optin_bytes();
  prop->sharedMemPerMultiprocessor = shared_optin_bytes() + (1 << 10);
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = multiprocessors();
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->maxBlocksPerMultiProcessor = 32;
  prop->cooperativeLaunch = 1;
  prop->clusterLaunch = clusters_supported() ? 1 : 0;
  prop->l2CacheSize = 50 << 20;
  prop->memoryBusWidth = 5120;
  prop->unifiedAddressing = 1;
  prop->concurrentKernels = 0;
  prop->asyncEngineCount = 1;
  return cudaSuccess;
}

// The attributes the emulator's own tests and cluster code ask for; any other is an invalid value.
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int dev) {
  EMU_ENTER();
  if (value == nullptr) return result(cudaErrorInvalidValue);
  if (dev != 0) return result(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = compute_capability() / 10; break;
    case cudaDevAttrComputeCapabilityMinor: *value = compute_capability() % 10; break;
    case cudaDevAttrMultiProcessorCount: *value = multiprocessors(); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(shared_optin_bytes()); break;
    case cudaDevAttrCooperativeLaunch: *value = 1; break;
    case cudaDevAttrClusterLaunch: *value = clusters_supported() ? 1 : 0; break;
    default: return result(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* blocks, const void* func, int block_size,
                                                                   size_t dynamic_shared, unsigned int) {
  EMU_ENTER();
  if (blocks == nullptr || block_size <= 0) return result(cudaErrorInvalidValue);
  if (func == nullptr) return result(cudaErrorInvalidDeviceFunction);
  *blocks = resident_blocks_per_sm(static_cast<unsigned>(block_size), dynamic_shared);
  return cudaSuccess;
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, const void* func, int block_size,
                                                          size_t dynamic_shared) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(blocks, func, block_size, dynamic_shared, 0);
}

// Clusters of the configuration's size resident at once: the blocks every multiprocessor holds, in whole
// clusters (a GPU places a cluster within one GPC; the emulated device is one GPC of LOGREG_EMU_SMS).
cudaError_t cudaOccupancyMaxActiveClusters(int* clusters, const void* func, const cudaLaunchConfig_t* config) {
  EMU_ENTER();
  if (clusters == nullptr || config == nullptr) return result(cudaErrorInvalidValue);
  if (func == nullptr) return result(cudaErrorInvalidDeviceFunction);
  if (!clusters_supported()) return result(cudaErrorNotSupported);
  unsigned size = 0;
  dim3 compiled;
  if (compiled_cluster_dims(func, &compiled)) size = compiled.x * compiled.y * compiled.z;
  for (unsigned i = 0; i < config->numAttrs && config->attrs != nullptr; ++i) {
    const cudaLaunchAttribute& a = config->attrs[i];
    if (a.id == cudaLaunchAttributeClusterDimension) size = a.val.clusterDim.x * a.val.clusterDim.y * a.val.clusterDim.z;
  }
  if (size == 0 || size > 8) return result(cudaErrorInvalidClusterSize);
  const dim3 b = config->blockDim;
  const int per_sm = resident_blocks_per_sm(b.x * b.y * b.z, config->dynamicSmemBytes);
  *clusters = per_sm * multiprocessors() / static_cast<int>(size);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  EMU_ENTER();
  EMU_UNSAFE_DURING_CAPTURE("cudaDeviceSynchronize");
  drain_all();
  return result(device().sticky);
}

cudaError_t cudaDeviceReset(void) {
  cuda_emu::reset_device();
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return result(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return result(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, const void* func) {
  EMU_ENTER();
  if (attributes == nullptr || func == nullptr) return result(cudaErrorInvalidDeviceFunction);
  std::memset(attributes, 0, sizeof *attributes);
  attributes->maxThreadsPerBlock = 1024;
  attributes->numRegs = 32;
  attributes->ptxVersion = 90;
  attributes->binaryVersion = 90;
  const auto it = device().functions.find(func);
  attributes->maxDynamicSharedSizeBytes =
      it == device().functions.end() ? static_cast<int>(kDefaultSharedBytes) : it->second.max_dynamic_shared;
  dim3 cluster;
  if (compiled_cluster_dims(func, &cluster)) {
    attributes->requiredClusterWidth = static_cast<int>(cluster.x);
    attributes->requiredClusterHeight = static_cast<int>(cluster.y);
    attributes->requiredClusterDepth = static_cast<int>(cluster.z);
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attribute, int value) {
  EMU_ENTER();
  if (func == nullptr) return result(cudaErrorInvalidDeviceFunction);
  if (attribute == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<std::size_t>(value) > shared_optin_bytes()) return result(cudaErrorInvalidValue);
    device().functions[func].max_dynamic_shared = value;
  }
  return cudaSuccess;
}

cudaError_t cudaProfilerStart(void) { return cudaSuccess; }
cudaError_t cudaProfilerStop(void) { return cudaSuccess; }

}  // extern "C"
