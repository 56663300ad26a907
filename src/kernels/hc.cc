#include "kernels/hc.h"

#include "kernels/kernels.h"

namespace dsv4 {

void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m) {
  UseRefKernels() ? ref::HcMixes(x, width, fn, outputs, eps, m)
                  : cpu::HcMixes(x, width, fn, outputs, eps, m);
}

}  // namespace dsv4
