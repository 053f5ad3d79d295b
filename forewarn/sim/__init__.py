"""Sensor simulator: realistic clean signals plus labelled fault injection (pure numpy)."""

from forewarn.sim.faults import FAULT_KINDS, FaultKind, InjectedFault, fault_kind, inject
from forewarn.sim.scenario import SimulatedSeries, demo_scenario, device_catalogue, stream
from forewarn.sim.sensors import (
    CURRENT,
    ENVIRONMENTAL,
    HUMIDITY,
    PRESSURE,
    PROFILES,
    TEMPERATURE,
    VIBRATION,
    MetricProfile,
    generate,
    profile_by_name,
)

__all__ = [
    "CURRENT",
    "ENVIRONMENTAL",
    "FAULT_KINDS",
    "HUMIDITY",
    "PRESSURE",
    "PROFILES",
    "TEMPERATURE",
    "VIBRATION",
    "FaultKind",
    "InjectedFault",
    "MetricProfile",
    "SimulatedSeries",
    "demo_scenario",
    "device_catalogue",
    "fault_kind",
    "generate",
    "inject",
    "profile_by_name",
    "stream",
]
