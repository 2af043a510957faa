# cython: language_level=3
"""C-level interface of the streaming filters (cext/_filters.pyx), for the pipeline kernel."""

cdef enum:
    MAX_CH = 8
    MAX_WIN = 7


cdef class SosBank:
    cdef int n_ch, n_sec
    cdef double* coef     # [ch][sec][b0 b1 b2 a1 a2]
    cdef double* zi       # [ch][sec][2]
    cdef void step(self, double* x) noexcept nogil


cdef class SpikeBank:
    cdef int n_ch, mode, win, primed
    cdef double hist[MAX_CH * MAX_WIN]   # [ch][win], oldest first
    cdef double k_mad
    cdef void step(self, double* x) noexcept nogil
    cdef void step_window(self, double* x) noexcept nogil
