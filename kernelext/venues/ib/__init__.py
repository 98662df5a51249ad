"""The Interactive Brokers paper venue (``--venue ib-paper``) through IB Gateway."""

from kernelext.venues.ib.venue import IbVenue

VENUE = IbVenue()
