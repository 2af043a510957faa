# cython: language_level=3
"""Force-plate maths: counts -> newtons per channel, Fz, centre of pressure, body-weight support.

Channel order: harness, deck FL, FR, RL, RR (DESIGN.md section 3).
Not here: filtering (cext/_filters.pyx), gait events (cext/_detector.pyx).
"""
from libc.math cimport NAN
from libc.string cimport memcpy


cdef class ForcePlate:
    """Calibration (counts -> N), Fz, centre of pressure and body-weight support."""

    def __cinit__(self, zero_counts, n_per_count, cells_xy, double body_weight_n=0.0,
                  double cop_min_n=20.0):
        for i in range(5):
            self.zero[i] = zero_counts[i]
            self.gain[i] = n_per_count[i]
        for i in range(4):
            self.cell_x[i] = cells_xy[i][0]
            self.cell_y[i] = cells_xy[i][1]
        self.body_weight_n = body_weight_n
        self.cop_min_n = cop_min_n

    cdef void calibrate(self, double* x) noexcept nogil:
        cdef int c
        for c in range(5):
            x[c] = (x[c] - self.zero[c]) * self.gain[c]

    cdef void plate(self, double* f, double* out) noexcept nogil:
        """f: 5 forces (harness, FL, FR, RL, RR) -> out: fz, cop_x, cop_y, bws."""
        cdef double fz = f[1] + f[2] + f[3] + f[4]
        out[0] = fz
        if fz > self.cop_min_n:
            out[1] = (f[1] * self.cell_x[0] + f[2] * self.cell_x[1]
                      + f[3] * self.cell_x[2] + f[4] * self.cell_x[3]) / fz
            out[2] = (f[1] * self.cell_y[0] + f[2] * self.cell_y[1]
                      + f[3] * self.cell_y[2] + f[4] * self.cell_y[3]) / fz
        else:
            out[1] = NAN
            out[2] = NAN
        out[3] = f[0] / self.body_weight_n if self.body_weight_n > 0.0 else NAN

    def calibrate_frames(self, const double[:, ::1] counts, double[:, ::1] out):
        """counts (n, 5) -> newtons (n, 5)."""
        cdef Py_ssize_t i
        if counts.shape[1] != 5 or out.shape[1] != 5 or out.shape[0] != counts.shape[0]:
            raise ValueError("counts and out must have shape (n, 5)")
        with nogil:
            for i in range(counts.shape[0]):
                memcpy(&out[i, 0], &counts[i, 0], 5 * sizeof(double))
                self.calibrate(&out[i, 0])

    def plate_frames(self, const double[:, ::1] forces, double[:, ::1] out):
        """forces (n, 5) -> (n, 4): fz, cop_x, cop_y, bws."""
        cdef Py_ssize_t i
        cdef double tmp[5]
        if forces.shape[1] != 5 or out.shape[1] != 4 or out.shape[0] != forces.shape[0]:
            raise ValueError("forces must have shape (n, 5) and out (n, 4)")
        with nogil:
            for i in range(forces.shape[0]):
                memcpy(tmp, &forces[i, 0], 5 * sizeof(double))
                self.plate(tmp, &out[i, 0])
