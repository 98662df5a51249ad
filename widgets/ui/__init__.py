"""What every view shares: one stylesheet (``paperlab.css``) and its html helpers (``style``),
one way to hand work to the UI thread (``post``: a Panel document's loop; ``kernel``: the
kernel's asyncio loop for ipywidgets)."""
