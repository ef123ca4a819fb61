/*
 * Shared memory between the processes of one host, for the data plane's same-host path
 * (src/shared-segment.ts). Node has no mmap, so this is the one native piece: a sender creates
 * an anonymous memfd segment and maps it; a receiver on the same host maps the very same pages
 * by opening /proc/<sender pid>/fd/<fd>. Nothing has a name in /dev/shm, so a process killed
 * with -9 leaks nothing: the kernel frees the pages when the last mapping or descriptor goes.
 *
 *   create(bytes)       -> [fd, ArrayBuffer]   memfd of `bytes`, mapped read-write
 *   open(path, bytes)   -> ArrayBuffer         maps an existing segment (a regular file of at
 *                                              least `bytes`; anything else fails)
 *   close(fd)           -> undefined           closes a descriptor create() returned
 *
 * The ArrayBuffers are external: their finalizer unmaps the pages once V8 collects them, so a
 * view can never outlive its mapping. Errors throw with the failing call and errno's text.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static napi_value fail(napi_env env, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, "ERR_PERMAFROST_SHM", message);
  return NULL;
}

static void unmap(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)hint);
}

static napi_value wrap(napi_env env, void *pages, size_t bytes) {
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, pages, bytes, unmap, (void *)bytes, &buffer) != napi_ok) {
    munmap(pages, bytes);
    napi_throw_error(env, "ERR_PERMAFROST_SHM", "napi_create_external_arraybuffer failed");
    return NULL;
  }
  return buffer;
}

static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "ERR_PERMAFROST_SHM", "missing argument");
    return 0;
  }
  return 1;
}

static napi_value create(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t bytes;
  if (!args(env, info, 1, argv) || napi_get_value_int64(env, argv[0], &bytes) != napi_ok || bytes <= 0) {
    napi_throw_type_error(env, "ERR_PERMAFROST_SHM", "bytes: a positive integer");
    return NULL;
  }
  int fd = memfd_create("permafrost-data", MFD_CLOEXEC);
  if (fd < 0) return fail(env, "memfd_create");
  if (ftruncate(fd, bytes) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return fail(env, "ftruncate");
  }
  void *pages = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (pages == MAP_FAILED) {
    int e = errno;
    close(fd);
    errno = e;
    return fail(env, "mmap");
  }
  napi_value result, fdValue, buffer = wrap(env, pages, (size_t)bytes);
  if (!buffer) {
    close(fd);
    return NULL;
  }
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fd, &fdValue);
  napi_set_element(env, result, 0, fdValue);
  napi_set_element(env, result, 1, buffer);
  return result;
}

static napi_value open_segment(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[4096];
  size_t length;
  int64_t bytes;
  if (!args(env, info, 2, argv) || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length) != napi_ok ||
      napi_get_value_int64(env, argv[1], &bytes) != napi_ok || bytes <= 0) {
    napi_throw_type_error(env, "ERR_PERMAFROST_SHM", "open(path: string, bytes: positive integer)");
    return NULL;
  }
  int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return fail(env, "open");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < bytes) {
    close(fd);
    errno = EINVAL;
    return fail(env, "not a segment of the announced size");
  }
  void *pages = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  errno = e;
  if (pages == MAP_FAILED) return fail(env, "mmap");
  return wrap(env, pages, (size_t)bytes);
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return NULL;
  if (close(fd) != 0) return fail(env, "close");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_segment, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 3, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
