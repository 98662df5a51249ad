"""nbmake runs these notebooks offline; their sessions write to a throwaway PAPERLAB_HOME."""

import os
import tempfile

os.environ.setdefault("PAPERLAB_HOME", tempfile.mkdtemp(prefix="paperlab-notebooks-"))
