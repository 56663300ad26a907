// Programming-invariant checks. DSV4_CHECK is always on; DSV4_DCHECK only in debug builds.
// Never use these for input from the outside world — return a Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>

#define DSV4_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "dsv4: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

#ifdef NDEBUG
#define DSV4_DCHECK(cond) \
  do {                    \
  } while (0)
#else
#define DSV4_DCHECK(cond) DSV4_CHECK(cond)
#endif
