"""Safety I/O module: the SafetyIo Protocol and the Modbus (ADAM-4051 class) driver."""
from drivers.safety_io.modbus_io import ModbusSafetyIo
from drivers.safety_io.protocol import SafetyInputs, SafetyIo

__all__ = ["ModbusSafetyIo", "SafetyInputs", "SafetyIo"]
