"""Errors every driver raises: each carries the catalogue fault code it maps to.

A driver never returns "no data" quietly: a time-out, a dropped link, a garbled answer or a
device-side Modbus exception is raised as a `DeviceError` with a fault code from
safety/faults.py and the raw detail for the log.
"""
from __future__ import annotations


class DeviceError(Exception):
    """A device could not be read or commanded; `code` is the fault-catalogue code."""

    def __init__(self, code: int, detail: str):
        super().__init__(f"[{code}] {detail}")
        self.code = code
        self.detail = detail


class CommsError(DeviceError):
    """No valid answer: time-out, link down, garbled frame."""


class DeviceRejected(DeviceError):
    """The device answered with a Modbus exception (it is there, but refused the request)."""

    def __init__(self, code: int, detail: str, exception_code: int):
        super().__init__(code, detail)
        self.exception_code = exception_code
