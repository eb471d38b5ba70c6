/* diffkit.h: the whole public C API of libdiffkit. */
#ifndef DIFFKIT_H
#define DIFFKIT_H
#include "diffkit/error.h"
#include "diffkit/tensor.h"
#include "diffkit/rng.h"
#include "diffkit/safetensors.h"
#include "diffkit/torchfile.h"
#include "diffkit/log.h"
#include "diffkit/graph.h"
#include "diffkit/noise.h"
#include "diffkit/plugin.h"
#include "diffkit/host.h"
#endif
