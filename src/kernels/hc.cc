#include "kernels/hc.h"

#include <cstdlib>
#include <cstring>

namespace dsv4 {

void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m) {
  static const bool use_ref = [] {  // as kernels.cc: DSV4_KERNELS=ref forces the scalar twin
    const char* env = std::getenv("DSV4_KERNELS");
    return env != nullptr && std::strcmp(env, "ref") == 0;
  }();
  use_ref ? ref::HcMixes(x, width, fn, outputs, eps, m) : cpu::HcMixes(x, width, fn, outputs, eps, m);
}

}  // namespace dsv4
