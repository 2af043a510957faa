"""Harness winch servo: the HarnessDrive Protocol and the CiA 402 over Modbus driver."""
from drivers.harness_servo.cia402 import Cia402Servo
from drivers.harness_servo.protocol import HarnessDrive, HarnessStatus

__all__ = ["Cia402Servo", "HarnessDrive", "HarnessStatus"]
