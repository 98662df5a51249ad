"""The crypto sandbox venue (``--venue sandbox``): Kraken or replay data, sandbox fills."""

from kernelext.venues.sandbox.venue import SandboxVenue

VENUE = SandboxVenue()
