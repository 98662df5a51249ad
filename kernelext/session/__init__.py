"""A paper session: the runner, its node, telemetry, hub, controls."""
