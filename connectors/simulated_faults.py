"""Faults every simulator can inject; each simulator adds those of its own protocol.

Faults change delivery, never data, so a simulated world's ground truth holds whatever is switched on.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeliveryFaults"]


@dataclass
class DeliveryFaults:
    """Rates are per request, or per record for duplicates; all can be changed while a simulator runs."""

    latency_ms: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 5.0  # how long a "timeout" request hangs before the simulator gives up on it
    http500_rate: float = 0.0
    duplicate_rate: float = 0.0
    out_of_order: bool = False
