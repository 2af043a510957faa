"""The BWST rig controller.

One process-wide setting is made here, before anything imports numpy: the BLAS library runs
single-threaded. The controller does no linear algebra in its loop; each idle BLAS worker
thread still holds tens of megabytes (locked in RAM once the loop locks memory) and wakes now
and then. An explicit OPENBLAS_NUM_THREADS in the environment wins.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
