"""Binance Spot testnet (``--venue binance-testnet``): Nautilus's Binance adapter on the testnet."""

from kernelext.venues.binance.venue import BinanceTestnetVenue

VENUE = BinanceTestnetVenue()
