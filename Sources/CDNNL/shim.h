#include <oneapi/dnnl/dnnl.h>
void omp_set_num_threads(int num_threads);  /* libgomp, the OpenMP runtime Debian's oneDNN is built with */
