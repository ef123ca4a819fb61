/*
 * Native stderr lines as JSON log lines (src/native-stderr.ts). Native libraries in the process
 * (LMDB's C code above all: `mdb_page_spill flushing error 5`, `page N not found error`) print
 * diagnostics with fprintf(stderr, ...), which would break the one-JSON-object-per-line format of
 * the logs when stderr is not a terminal. Node cannot intercept those writes; this module can.
 *
 * It points C's `stderr` stream at a pipe. glibc documents stdin, stdout and stderr as ordinary
 * variables that a program may assign, and every shared object of the process reads the same
 * one, so all stdio writes to `stderr` land in the pipe while file descriptor 2 itself stays as
 * it is: Node's own writes (the structured logger, the one-line `permafrost: ...` errors) and
 * child processes, which inherit fd 2, are untouched, and the pipe's descriptors are close-on-exec.
 * A native thread reads the pipe, splits it into lines and writes each as one JSON object
 * (time, level "warn", msg, source "native") to fd 2 with one write(2); a line still without its
 * newline after 200 ms is written as it is. When fd 2 is a full non-blocking pipe (Node makes its
 * stderr pipe so, and a plain fprintf then drops the text) it waits. Being a native thread, it
 * drains the pipe even while the event loop is busy in a long tfjs call.
 *
 * At exit (atexit: process.exit and a normal end alike) `stderr` goes back to the terminal's
 * stream, the thread drains what is left, the last partial line included, and is joined with a
 * bounded wait (a reader of fd 2 that stopped reading cannot hang the exit).
 *
 *   install(quiet)  -> true, or a string saying why nothing was installed; a second call is a
 *                      no-op. quiet: drop the lines (log level error or silent).
 *   print(text)     -> undefined   fprintf(stderr, text): the module's own self-test
 *
 * Not captured: raw write(2, ...) calls that bypass stdio, and a process that dies of a signal
 * loses what the thread has not written yet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* glibc only: musl declares stderr const */
#ifdef __GLIBC__

#define PIPE_BYTES (1 << 20)
/* a longer line is written in pieces of this size, each a JSON line of its own */
#define LINE_BYTES 16384
#define EXIT_WAIT_S 2
/* a line without its newline is written after this quiet time (lmdb-js has such messages) */
#define PARTIAL_WAIT_MS 200

static FILE *original;
static FILE *capture;
static int out_fd = -1;
static int read_fd = -1;
static int stop_fds[2] = {-1, -1};
static int quiet;
static pthread_t reader;

static char line[LINE_BYTES];
static size_t line_len;

/* fd 2 may be non-blocking (Node makes a pipe so): wait until it takes more, never drop */
static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(out_fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd out = {out_fd, POLLOUT, 0};
      poll(&out, 1, -1);
      continue;
    }
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* bytes of the valid UTF-8 sequence at p (1 to 4), or 0 when it is not one */
static size_t utf8_length(const unsigned char *p, size_t left) {
  size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;
  if (n == 0 || n > left) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  return n;
}

/* JSON string contents of s: quotes, backslashes and control bytes escaped, invalid UTF-8 as U+FFFD */
static size_t escape(const unsigned char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n' || c == '\t' || c == '\r') {
      out[o++] = '\\';
      out[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
    } else if (c < 0x20) {
      o += (size_t)sprintf(out + o, "\\u%04x", c);
    } else if (c >= 0x80) {
      size_t k = utf8_length(s + i, n - i);
      if (k == 0) {
        o += (size_t)sprintf(out + o, "\\ufffd");
      } else {
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
        continue;
      }
    } else {
      out[o++] = (char)c;
    }
    i++;
  }
  return o;
}

static void emit(const char *s, size_t n) {
  if (n > 0 && s[n - 1] == '\r') n--;
  if (n == 0 || quiet) return;
  /* every byte escapes to at most 6 ("\u00XX", "\ufffd") */
  static char json[128 + 6 * LINE_BYTES];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t o = (size_t)snprintf(json, 128, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"warn\",\"msg\":\"",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                              now.tv_nsec / 1000000);
  o += escape((const unsigned char *)s, n, json + o);
  static const char tail[] = "\",\"source\":\"native\"}\n";
  memcpy(json + o, tail, sizeof tail - 1);
  write_all(json, o + sizeof tail - 1);
}

/* splits what was read into lines; a line that outgrows the buffer is emitted in pieces */
static void take(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      emit(line, line_len);
      line_len = 0;
    } else {
      if (line_len == LINE_BYTES) {
        emit(line, line_len);
        line_len = 0;
      }
      line[line_len++] = p[i];
    }
  }
}

static void *read_lines(void *arg) {
  (void)arg;
  char buf[65536];
  struct pollfd fds[2] = {{read_fd, POLLIN, 0}, {stop_fds[0], POLLIN, 0}};
  for (;;) {
    int ready = poll(fds, 2, line_len > 0 ? PARTIAL_WAIT_MS : -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    if (ready == 0) {
      emit(line, line_len);
      line_len = 0;
      continue;
    }
    if (fds[1].revents) break;
    ssize_t n = read(read_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    take(buf, (size_t)n);
  }
  /* the exit: whatever the pipe still holds, then the last partial line */
  fcntl(read_fd, F_SETFL, fcntl(read_fd, F_GETFL) | O_NONBLOCK);
  for (;;) {
    ssize_t n = read(read_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    take(buf, (size_t)n);
  }
  emit(line, line_len);
  line_len = 0;
  return NULL;
}

static void finish(void) {
  if (!capture) return;
  stderr = original;
  fflush(capture);
  /* capture stays open: another thread may be inside an fprintf on it */
  ssize_t w = write(stop_fds[1], "x", 1);
  (void)w;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += EXIT_WAIT_S;
  pthread_timedjoin_np(reader, NULL, &deadline);
}

/* NULL when installed, else why not */
static const char *start(void) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "pipe2 failed";
  fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES); /* a bigger buffer if allowed; the default works too */
  if (pipe2(stop_fds, O_CLOEXEC) != 0) return "pipe2 failed";
  out_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (out_fd < 0) return "fd 2 is not open";
  FILE *f = fdopen(fds[1], "w");
  if (!f) return "fdopen failed";
  setvbuf(f, NULL, _IONBF, 0);
  read_fd = fds[0];
  /* the thread takes no signals: Node's handlers run on Node's threads */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&reader, NULL, read_lines, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) return "pthread_create failed";
  fflush(stderr);
  original = stderr;
  capture = f;
  stderr = f;
  atexit(finish);
  return NULL;
}

#endif

static napi_value install(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  bool q = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_bool(env, argv[0], &q);
  const char *why = NULL;
#ifdef __GLIBC__
  if (!capture) {
    quiet = q;
    errno = 0;
    why = start();
  }
#else
  why = "C's stderr can be redirected with glibc only";
#endif
  if (why) {
    char message[128];
    snprintf(message, sizeof message, "%s (%s)", why, errno ? strerror(errno) : "");
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &result);
  } else {
    napi_get_boolean(env, true, &result);
  }
  return result;
}

static napi_value print(napi_env env, napi_callback_info info) {
  size_t argc = 1, n = 0;
  napi_value argv[1];
  char text[4096];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], text, sizeof text, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "print(text: string)");
    return NULL;
  }
  fputs(text, stderr);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"install", NULL, install, NULL, NULL, NULL, napi_default, NULL},
      {"print", NULL, print, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
