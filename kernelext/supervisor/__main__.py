"""``python -m kernelext.supervisor``: the supervisor in the foreground (what ``paperlab supervise`` runs)."""

import sys

from kernelext.supervisor.daemon import serve

sys.exit(serve())
