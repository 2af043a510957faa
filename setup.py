"""Install the BWST rig controller: Python packages, the `rig` command, and the Cython core.

The Cython core (cext/*.pyx) is compiled here, at install time, never at import.
"""
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent


def cython_extensions() -> list[Extension]:
    """One extension module per cext/*.pyx file, compiled with bounds checks off."""
    modules = []
    for pyx in sorted((HERE / "cext").glob("*.pyx")):
        modules.append(
            Extension(
                f"cext.{pyx.stem}",
                [str(pyx.relative_to(HERE))],
                include_dirs=[numpy.get_include()],
                extra_compile_args=["-O3"],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            )
        )
    return cythonize(
        modules,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )


setup(
    name="bwst-rig",
    version="0.1.0",
    description="Supervised controller for body-weight-supported treadmill rigs",
    python_requires=">=3.11",
    packages=find_packages(include=["rig*", "controllers*", "safety*", "drivers*", "cext*", "bench*"]),
    package_data={"cext": ["*.pyx", "*.pxd"], "rig.panel": ["static/*"]},
    ext_modules=cython_extensions(),
    install_requires=[
        "pymodbus~=3.16.1",
        "pyserial>=3.5",
        "numpy>=1.26",
        "scipy>=1.11",
        "transitions>=0.9.2",
    ],
    extras_require={"test": ["pytest>=8", "hypothesis>=6.100", "modbus-tk>=1.1.3"]},
    entry_points={"console_scripts": ["rig=rig.cli:main"]},
    zip_safe=False,
)
