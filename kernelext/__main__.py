"""``python -m kernelext ...``: the same CLI as ``paperlab``."""

from kernelext.cli import run

run()
