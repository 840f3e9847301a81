// C11 <threads.h> on top of pthreads, linked only into TSan builds.
//
// Debian's librdkafka starts its threads with glibc's C11 thrd_create and
// locks with mtx_*/cnd_*. GCC 12's TSan intercepts pthread_create and the
// pthread_mutex/cond calls, but not glibc's C11 entry points (which call the
// pthread internals directly): threads it never saw start crash inside its
// allocator, and locks it cannot see look like races. Defined in the
// executable, these definitions take precedence over glibc's for every
// library's references (an unversioned global definition satisfies the
// versioned thrd_create@GLIBC_2.34), so TSan sees librdkafka's threads and
// locks through the pthread calls it intercepts.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace {

struct Start {
  thrd_start_t function;
  void* argument;
};

void* Trampoline(void* raw) {
  Start start = *static_cast<Start*>(raw);
  std::free(raw);
  return reinterpret_cast<void*>(static_cast<intptr_t>(start.function(start.argument)));
}

int FromErrno(int rc) {
  if (rc == 0) return thrd_success;
  if (rc == ENOMEM) return thrd_nomem;
  if (rc == ETIMEDOUT) return thrd_timedout;
  if (rc == EBUSY) return thrd_busy;
  return thrd_error;
}

pthread_mutex_t* Native(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* Native(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

static_assert(sizeof(mtx_t) >= sizeof(pthread_mutex_t) && sizeof(cnd_t) >= sizeof(pthread_cond_t) &&
              sizeof(thrd_t) == sizeof(pthread_t) && sizeof(tss_t) >= sizeof(pthread_key_t) &&
              sizeof(once_flag) >= sizeof(pthread_once_t));

}  // namespace

extern "C" {

int thrd_create(thrd_t* thread, thrd_start_t function, void* argument) {
  auto* start = static_cast<Start*>(std::malloc(sizeof(Start)));  // freed by the thread (a C boundary: no new)
  if (start == nullptr) return thrd_nomem;
  *start = Start{function, argument};
  const int rc = pthread_create(reinterpret_cast<pthread_t*>(thread), nullptr, Trampoline, start);
  if (rc != 0) std::free(start);
  return FromErrno(rc);
}

int thrd_join(thrd_t thread, int* result) {
  void* value = nullptr;
  const int rc = pthread_join(static_cast<pthread_t>(thread), &value);
  if (rc == 0 && result != nullptr) *result = static_cast<int>(reinterpret_cast<intptr_t>(value));
  return FromErrno(rc);
}

int thrd_detach(thrd_t thread) { return FromErrno(pthread_detach(static_cast<pthread_t>(thread))); }
thrd_t thrd_current(void) { return static_cast<thrd_t>(pthread_self()); }
int thrd_equal(thrd_t a, thrd_t b) { return pthread_equal(static_cast<pthread_t>(a), static_cast<pthread_t>(b)); }
void thrd_exit(int result) { pthread_exit(reinterpret_cast<void*>(static_cast<intptr_t>(result))); }

int mtx_init(mtx_t* mutex, int type) {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(Native(mutex), &attributes);
  pthread_mutexattr_destroy(&attributes);
  return FromErrno(rc);
}
int mtx_lock(mtx_t* mutex) { return FromErrno(pthread_mutex_lock(Native(mutex))); }
int mtx_trylock(mtx_t* mutex) { return FromErrno(pthread_mutex_trylock(Native(mutex))); }
int mtx_timedlock(mtx_t* mutex, const struct timespec* until) {
  return FromErrno(pthread_mutex_timedlock(Native(mutex), until));
}
int mtx_unlock(mtx_t* mutex) { return FromErrno(pthread_mutex_unlock(Native(mutex))); }
void mtx_destroy(mtx_t* mutex) { pthread_mutex_destroy(Native(mutex)); }

int cnd_init(cnd_t* cond) { return FromErrno(pthread_cond_init(Native(cond), nullptr)); }
int cnd_signal(cnd_t* cond) { return FromErrno(pthread_cond_signal(Native(cond))); }
int cnd_broadcast(cnd_t* cond) { return FromErrno(pthread_cond_broadcast(Native(cond))); }
int cnd_wait(cnd_t* cond, mtx_t* mutex) { return FromErrno(pthread_cond_wait(Native(cond), Native(mutex))); }
int cnd_timedwait(cnd_t* cond, mtx_t* mutex, const struct timespec* until) {
  return FromErrno(pthread_cond_timedwait(Native(cond), Native(mutex), until));
}
void cnd_destroy(cnd_t* cond) { pthread_cond_destroy(Native(cond)); }

int tss_create(tss_t* key, tss_dtor_t destructor) {
  return FromErrno(pthread_key_create(reinterpret_cast<pthread_key_t*>(key), destructor));
}
void* tss_get(tss_t key) { return pthread_getspecific(static_cast<pthread_key_t>(key)); }
int tss_set(tss_t key, void* value) { return FromErrno(pthread_setspecific(static_cast<pthread_key_t>(key), value)); }
void tss_delete(tss_t key) { pthread_key_delete(static_cast<pthread_key_t>(key)); }

void call_once(once_flag* flag, void (*function)(void)) { pthread_once(reinterpret_cast<pthread_once_t*>(flag), function); }

}  // extern "C"
