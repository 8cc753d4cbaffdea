#include "streamrec/core/runtime_env.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>

namespace streamrec {

const char* preferred_openblas_coretype() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

void configure_runtime(int argc, char** argv) {
  (void)argc;
  // Marks that this process already went through here (so a failed setting cannot loop).
  if (std::getenv("STREAMREC_RUNTIME_SET") != nullptr) return;
  setenv("STREAMREC_RUNTIME_SET", "1", 1);
  bool changed = false;
  auto set_default = [&changed](const char* name, const char* value) {
    if (value == nullptr || std::getenv(name) != nullptr) return;
    setenv(name, value, 1);
    changed = true;
  };
  set_default("OPENBLAS_CORETYPE", preferred_openblas_coretype());
  set_default("OMP_WAIT_POLICY", "passive");
  set_default("MALLOC_MMAP_THRESHOLD_", "4294967296");
  set_default("MALLOC_TRIM_THRESHOLD_", "4294967296");
  if (!changed) return;
  execv("/proc/self/exe", argv);
  // execv only returns on failure: carry on with the libraries' defaults.
}

int blas_threads() {
  using GetThreads = int (*)();
  auto* get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : 0;
}

void set_blas_threads(int n) {
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(n);
}

}  // namespace streamrec
