# cython: language_level=3
"""C-level interface of the force-plate maths (cext/_forceplate.pyx)."""


cdef class ForcePlate:
    cdef double zero[5]
    cdef double gain[5]
    cdef double cell_x[4]
    cdef double cell_y[4]
    cdef public double body_weight_n
    cdef public double cop_min_n
    cdef void calibrate(self, double* x) noexcept nogil
    cdef void plate(self, double* f, double* out) noexcept nogil
