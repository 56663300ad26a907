#include "kernels/hc.h"

#include "kernels/kernels.h"

namespace dsv4 {

void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m) {
  UseRefKernels() ? ref::HcMixes(x, width, fn, outputs, eps, m)
                  : cpu::HcMixes(x, width, fn, outputs, eps, m);
}

void HcCollapse(const float* X, int hc, int D, const float* pre, float* x) {
  UseRefKernels() ? ref::HcCollapse(X, hc, D, pre, x) : cpu::HcCollapse(X, hc, D, pre, x);
}

void HcPostMix(const float* x, const float* R, const float* post, const float* comb, int hc, int D,
               float* out) {
  UseRefKernels() ? ref::HcPostMix(x, R, post, comb, hc, D, out)
                  : cpu::HcPostMix(x, R, post, comb, hc, D, out);
}

}  // namespace dsv4
