"""Interactive Brokers live (``--venue ib-live``): real orders on a live (``U…``) account through a
separate live IB Gateway (port 4001), behind the live-trading gates (``kernelext.session.real_money``)."""

from kernelext.venues.ib_live.venue import IbLiveVenue

VENUE = IbLiveVenue()
