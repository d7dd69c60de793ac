// A library for the platform layer's loading tests: one exported function.

#ifdef _WIN32
#define SAMPLE_EXPORT __declspec(dllexport)
#else
#define SAMPLE_EXPORT __attribute__((visibility("default")))
#endif

extern "C" SAMPLE_EXPORT int procman_platform_sample(int x) {
  return x * 6;
}
