// Where the engine's threads run: a worker kept off the CPU the calling thread is on while both compute
// one program run (src/engine/placement.ts says when).
//
// Why: Linux places a thread it wakes on the waker's CPU or on the CPU the thread last ran on. After an
// idle spell (a request at a time), both are often the calling thread's: the worker then waits behind
// the calling thread, which is computing, and the two take turns on one vCPU while the other idles. A C
// probe on this project's 2-vCPU host, a thread woken after a 60 ms pause while its waker spins: on the
// waker's CPU 95 times in 100, running 3.7 ms after the wake on average; kept off the waker's CPU first,
// 0 in 100 and 0.16 ms (docs/benchmarks.md, "A worker kept off the calling thread's CPU").
//
// And a cut on the workers alone (no calling thread among the runners): after the same idle spell both
// workers, woken one after the other, often ran on one vCPU, taking turns through whole stages; each pool
// thread is then held to a CPU of its own, the nth of those the process may use (runOnlyOnNth).
//
// Linux only (sched_setaffinity on another thread of this process); elsewhere every function says it
// cannot, and the engine does without.
#ifdef __linux__
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static napi_value int32Value(napi_env env, int32_t value) {
  napi_value r;
  napi_create_int32(env, value, &r);
  return r;
}

// osThreadId(): the kernel's id of the calling thread (gettid), or -1.
static napi_value OsThreadId(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __linux__
  return int32Value(env, (int32_t)syscall(SYS_gettid));
#else
  return int32Value(env, -1);
#endif
}

// currentCpu(): the CPU the calling thread runs on now (sched_getcpu), or -1.
static napi_value CurrentCpu(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __linux__
  return int32Value(env, (int32_t)sched_getcpu());
#else
  return int32Value(env, -1);
#endif
}

// A thread-placement call's two integer arguments (a tid and a CPU or index), read into *tid and *value.
// False, with a TypeError naming `usage` thrown, if there are not two.
static int placementArgs(napi_env env, napi_callback_info info, const char *usage, int *tid, int *value) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 2) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  *tid = (int)argInt(env, argv[0]);
  *value = (int)argInt(env, argv[1]);
  return 1;
}

#ifdef __linux__
// Sets thread `tid`'s mask to the CPUs the calling thread may run on, passed through `narrow` with `value`
// (which leaves at least one). 0, or a negative errno: -ESRCH where `tid` is not a thread of this process
// (checked against /proc/self/task first, so a stale one never reaches another process's thread).
static int32_t placeThread(int tid, int value, void (*narrow)(cpu_set_t *mask, const cpu_set_t *allowed, int value)) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d", tid);
  if (tid <= 0 || access(path, F_OK) != 0) return -ESRCH;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -errno;
  if (CPU_COUNT(&allowed) == 0) return -EINVAL;
  cpu_set_t mask = allowed;
  narrow(&mask, &allowed, value);
  if (sched_setaffinity(tid, sizeof mask, &mask) != 0) return -errno;
  return 0;
}

// Every allowed CPU but `cpu`, unless that leaves none.
static void withoutCpu(cpu_set_t *mask, const cpu_set_t *allowed, int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, mask)) return;
  CPU_CLR(cpu, mask);
  if (CPU_COUNT(mask) == 0) *mask = *allowed;
}

// The nth allowed CPU alone (counted from 0, modulo their count).
static void onlyNth(cpu_set_t *mask, const cpu_set_t *allowed, int nth) {
  int left = nth % CPU_COUNT(allowed);
  CPU_ZERO(mask);
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (CPU_ISSET(cpu, allowed) && left-- == 0) {
      CPU_SET(cpu, mask);
      return;
    }
  }
}
#endif

// keepOffCpu(tid, cpu): thread `tid` of this process may run on every CPU the calling thread may, but
// `cpu`; with cpu -1, or where that would leave none, on every one of them. 0 once done, else a negative
// errno (-ESRCH: no such thread in this process; -ENOSYS: not Linux).
static napi_value KeepOffCpu(napi_env env, napi_callback_info info) {
  int tid, cpu;
  if (!placementArgs(env, info, "keepOffCpu: expected (tid, cpu)", &tid, &cpu)) return NULL;
#ifdef __linux__
  return int32Value(env, placeThread(tid, cpu, withoutCpu));
#else
  return int32Value(env, -38);
#endif
}

// runOnlyOnNth(tid, nth): thread `tid` of this process may run only on the nth (counted from 0, modulo
// their count) of the CPUs the calling thread may run on. 0 once done, else a negative errno, as keepOffCpu
// (-ESRCH for a negative nth too).
static napi_value RunOnlyOnNth(napi_env env, napi_callback_info info) {
  int tid, nth;
  if (!placementArgs(env, info, "runOnlyOnNth: expected (tid, nth)", &tid, &nth)) return NULL;
#ifdef __linux__
  return int32Value(env, nth < 0 ? -ESRCH : placeThread(tid, nth, onlyNth));
#else
  return int32Value(env, -38);
#endif
}
