"""``python -m kernelext ...``: the same CLI as ``paperlab``."""

from kernelext.surfaces.cli import run

run()
