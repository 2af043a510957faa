"""Belt VFD: the BeltDrive Protocol and the Delta MS300 driver."""
from drivers.belt_vfd.delta import DeltaVfd
from drivers.belt_vfd.protocol import BeltDrive, BeltStatus

__all__ = ["BeltDrive", "BeltStatus", "DeltaVfd"]
