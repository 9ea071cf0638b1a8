// The emulator's <cuda_pipeline.h> (emulator/ comes before the toolkit on the include path): nothing of its
// own. The primitives kernels use (__pipeline_memcpy_async, __pipeline_commit, __pipeline_wait_prior) are in
// the force-included cuda_emulator.hpp, their semantics in async_copy.cpp; the toolkit's header is device
// code (inline PTX) and does not compile on the host. Not here: nvcuda::experimental::pipeline.
#pragma once

#include "cuda_emulator.hpp"
