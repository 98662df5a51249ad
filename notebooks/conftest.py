"""nbmake runs these notebooks offline; their sessions write to a throwaway PAPERLAB_HOME."""

import os
import tempfile

os.environ.setdefault("PAPERLAB_HOME", tempfile.mkdtemp(prefix="paperlab-notebooks-"))
# Offline: the default feed asks this closed local port for Kraken and falls back to replay.
os.environ.setdefault("PAPERLAB_KRAKEN_HTTP", "http://127.0.0.1:9")
os.environ.setdefault("PAPERLAB_KRAKEN_WS", "ws://127.0.0.1:9/v2")
