"""Local protocol peers: small servers on 127.0.0.1 that speak real venue protocols for tests."""
