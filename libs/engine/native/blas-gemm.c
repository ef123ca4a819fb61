/*
 * Single-precision matrix products on the host's OpenBLAS, for the wasm backend's training
 * steps: the forward and backward products of dense and 1x1 conv layers (src/native-gemm.ts). XNNPACK in wasm runs a GEMM at about 45-50 GFLOP/s on two cores
 * (SIMD128, no FMA); OpenBLAS's AVX2/FMA kernels run the same shapes several times faster. The
 * operands are views of the wasm heap, so nothing is copied: the product is written straight
 * into the output tensor's memory.
 *
 * The library is opened with dlopen, never linked, so this module builds without BLAS headers
 * and loads on a machine without OpenBLAS (open() then throws, and the kernels keep XNNPACK):
 *
 *   open(path)                      -> string   dlopens `path` (a file name or a path), returns
 *                                               the library's configuration string
 *   setThreads(n)                   -> undefined
 *   gemm(transA, transB, m, n, k, a, b, c, batch, strideA, strideB)
 *                                   -> undefined  for each i < batch:
 *       C_i = op(A_i) op(B_i)   row-major; op(A_i) m x k, op(B_i) k x n, C_i m x n,
 *       A_i = a + i*strideA, B_i = b + i*strideB, C_i = c + i*m*n   (a stride 0 broadcasts)
 *   biasActivation(c, cols, bias, activation, alpha)
 *                                   -> undefined  in place over rows of `cols`: c += bias (if
 *       not null), then activation 0 linear, 1 relu, 2 relu6, 3 leakyrelu (alpha), with tfjs's
 *       comparisons (a NaN stays NaN)
 *
 * Every extent is checked against its Float32Array before OpenBLAS reads or writes, so a wrong
 * shape throws instead of touching memory outside the views.
 *
 * OpenBLAS's threads spin for a while after each call before they sleep; on a small machine
 * that spin takes the cores from XNNPACK's own threads, which run between the products. So
 * OPENBLAS_THREAD_TIMEOUT is lowered (unless the user set it) before the library loads.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sgemm_fn)(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a,
                         int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*threads_fn)(int n);
typedef char *(*config_fn)(void);

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

static sgemm_fn sgemm;
static threads_fn set_threads;

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, "ERR_PERMAFROST_BLAS", message);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "ERR_PERMAFROST_BLAS", "missing argument");
    return 0;
  }
  return 1;
}

static int get_int(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok || *out < 0 || *out > INT32_MAX) {
    napi_throw_range_error(env, "ERR_PERMAFROST_BLAS", "expected an integer in [0, 2^31)");
    return 0;
  }
  return 1;
}

/* A Float32Array's data and length in elements; with `optional`, null gives (NULL, 0). */
static int get_floats(napi_env env, napi_value v, float **data, size_t *length, int optional) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  if (optional && (type == napi_null || type == napi_undefined)) {
    *data = NULL;
    *length = 0;
    return 1;
  }
  napi_typedarray_type kind;
  void *raw;
  if (napi_get_typedarray_info(env, v, &kind, length, &raw, NULL, NULL) != napi_ok || kind != napi_float32_array) {
    napi_throw_type_error(env, "ERR_PERMAFROST_BLAS", "expected a Float32Array");
    return 0;
  }
  *data = raw;
  return 1;
}

static napi_value open_library(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[1024];
  size_t len;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    return throw_error(env, "expected the library's path");
  }
  if (sgemm) return throw_error(env, "a BLAS library is open already");
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) return throw_error(env, dlerror());
  sgemm_fn found = (sgemm_fn)dlsym(lib, "cblas_sgemm");
  config_fn config = (config_fn)dlsym(lib, "openblas_get_config");
  if (!found || !config) {
    dlclose(lib);
    return throw_error(env, "not OpenBLAS (no cblas_sgemm or openblas_get_config)");
  }
  sgemm = found;
  set_threads = (threads_fn)dlsym(lib, "openblas_set_num_threads");
  napi_value result;
  napi_create_string_utf8(env, config(), NAPI_AUTO_LENGTH, &result);
  return result;
}

static napi_value threads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t n;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &n)) return NULL;
  if (!sgemm) return throw_error(env, "no BLAS library is open");
  if (set_threads && n > 0) set_threads((int)n);
  return NULL;
}

/* The last element a batch of `batch` matrices of `size` elements, `stride` apart, reaches. */
static int fits(size_t length, int64_t batch, int64_t stride, int64_t size) {
  return size == 0 || (uint64_t)((batch - 1) * stride + size) <= length;
}

static napi_value gemm(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  bool trans_a, trans_b;
  int64_t m, n, k, batch, stride_a, stride_b;
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!get_args(env, info, 11, argv)) return NULL;
  if (napi_get_value_bool(env, argv[0], &trans_a) != napi_ok || napi_get_value_bool(env, argv[1], &trans_b) != napi_ok) {
    napi_throw_type_error(env, "ERR_PERMAFROST_BLAS", "expected booleans for the transpose flags");
    return NULL;
  }
  if (!get_int(env, argv[2], &m) || !get_int(env, argv[3], &n) || !get_int(env, argv[4], &k) ||
      !get_floats(env, argv[5], &a, &la, 0) || !get_floats(env, argv[6], &b, &lb, 0) ||
      !get_floats(env, argv[7], &c, &lc, 0) || !get_int(env, argv[8], &batch) || !get_int(env, argv[9], &stride_a) ||
      !get_int(env, argv[10], &stride_b)) {
    return NULL;
  }
  if (!sgemm) return throw_error(env, "no BLAS library is open");
  if (batch == 0 || m == 0 || n == 0) return NULL;
  if (!fits(la, batch, stride_a, m * k) || !fits(lb, batch, stride_b, k * n) || !fits(lc, batch, m * n, m * n)) {
    return throw_error(env, "an operand is shorter than its shape");
  }
  for (int64_t i = 0; i < batch; i++) {
    float *ci = c + i * m * n;
    if (k == 0) {
      memset(ci, 0, sizeof(float) * (size_t)(m * n));
      continue;
    }
    sgemm(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, trans_b ? TRANS : NO_TRANS, (int)m, (int)n, (int)k, 1.0f,
          a + i * stride_a, trans_a ? (int)m : (int)k, b + i * stride_b, trans_b ? (int)k : (int)n, 0.0f, ci, (int)n);
  }
  return NULL;
}

static void activate(float *r, int64_t cols, int64_t activation, float alpha) {
  switch (activation) {
    case 1:
      for (int64_t j = 0; j < cols; j++) r[j] = r[j] < 0.0f ? 0.0f : r[j];
      break;
    case 2:
      for (int64_t j = 0; j < cols; j++) r[j] = r[j] < 0.0f ? 0.0f : (r[j] > 6.0f ? 6.0f : r[j]);
      break;
    case 3:
      for (int64_t j = 0; j < cols; j++) r[j] = r[j] < 0.0f ? alpha * r[j] : r[j];
      break;
    default:
      break;
  }
}

static napi_value bias_activation(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int64_t cols, activation;
  double alpha;
  float *c, *bias;
  size_t lc, lbias;
  if (!get_args(env, info, 5, argv) || !get_floats(env, argv[0], &c, &lc, 0) || !get_int(env, argv[1], &cols) ||
      !get_floats(env, argv[2], &bias, &lbias, 1) || !get_int(env, argv[3], &activation) ||
      napi_get_value_double(env, argv[4], &alpha) != napi_ok) {
    return NULL;
  }
  if (cols == 0 || lc % (size_t)cols != 0 || (bias && lbias != (size_t)cols) || activation > 3) {
    return throw_error(env, "biasActivation: the bias, the columns or the activation do not fit");
  }
  for (size_t row = 0; row < lc; row += (size_t)cols) {
    float *r = c + row;
    if (bias) {
      for (int64_t j = 0; j < cols; j++) r[j] += bias[j];
    }
    activate(r, cols, activation, (float)alpha);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, open_library, NULL, NULL, NULL, napi_default, NULL},
    {"setThreads", NULL, threads, NULL, NULL, NULL, napi_default, NULL},
    {"gemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL},
    {"biasActivation", NULL, bias_activation, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
