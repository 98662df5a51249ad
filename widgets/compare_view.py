"""The comparison view: backtest vs paper[ vs live] metrics, the assessment, an HTML download.

    CompareView("bt-id", "paper-id").panel()
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from kernelext import api

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from kernelext.research.compare import Comparison


def assessment_markdown(comparison: Comparison) -> str:
    """The assessment as Markdown: a bold headline and a bullet list per compared run."""
    blocks = []
    for v in comparison.verdicts:
        lines = [f"**{v.headline}**"]
        for title, items in v.sections():
            lines += ["", f"{title}:", "", *(f"- {x}" for x in items)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


class CompareView(pn.viewable.Viewer):
    """A Tabulator of the metrics, the assessment and a download of the HTML export."""

    comparison = param.Parameter(doc="the ``Comparison`` shown (kernelext.api.compare)")

    def __init__(self, *session_ids: str, ledger: Ledger | None = None) -> None:
        """Compare ``session_ids`` (2 or 3 ids, prefixes or "latest") in ``ledger``."""
        super().__init__(comparison=api.compare(*session_ids, ledger=ledger))

    def __panel__(self) -> pn.Column:
        return self.panel()

    @property
    def filename(self) -> str:
        """``compare-<short ids>.html``."""
        return "compare-" + "-".join(r.short_id for r in self.comparison.runs) + ".html"

    def _html_file(self) -> io.BytesIO:
        """The HTML export as a file-like object for FileDownload."""
        return io.BytesIO(self.comparison.to_html().encode("utf-8"))

    def table(self) -> pn.widgets.Tabulator:
        """The metric table, read-only, numbers rounded for display."""
        df = self.comparison.table.to_pandas().round(4)
        return pn.widgets.Tabulator(df, show_index=False, disabled=True, layout="fit_data_table",
                                    sizing_mode="stretch_width", css_classes=["paperlab-compare"])

    def download(self) -> pn.widgets.FileDownload:
        """A button that downloads the self-contained HTML export."""
        return pn.widgets.FileDownload(callback=self._html_file, filename=self.filename,
                                       label="Download HTML report", color="primary")

    def panel(self, **kw: Any) -> pn.Column:
        """The whole view."""
        return pn.Column(
            pn.pane.Markdown("### Backtest vs paper"),
            self.table(),
            pn.pane.Markdown(assessment_markdown(self.comparison), sizing_mode="stretch_width"),
            self.download(),
            sizing_mode="stretch_width",
            **kw,
        )
