"""Every bad input, as a careless user types it, gets one line naming the field.

The same rules on every surface: the CLI (``paperlab ...``: exit code 2, or 1 for a venue
that cannot be reached, and one ``paperlab: error:`` line on stderr), the magics (one
``paper: error:`` line in the cell) and ``kernelext.*`` (a ``PaperLabError`` whose one line
names the field; in a notebook cell it prints as that one line). Never a traceback, and no
session row or any other row left behind in the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kernelext
from kernelext.errors import PaperLabError, one_line
from kernelext.strategies import PaperStrategy, PaperStrategyConfig, registry
from kernelext.surfaces.cli import main

PAPER = ["paper", "--feed", "replay", "--strategy", "ema_cross", "--instrument", "BTC/USD"]
SOON = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")  # a valid --report-at
SLEEVE = '{"strategy": "ema_cross", "instrument": "BTC/USD"%s}'


class BoomOnInit(PaperStrategy):
    """A strategy whose ``__init__`` raises (registered for these tests only)."""

    def __init__(self, config: PaperStrategyConfig) -> None:
        raise ZeroDivisionError("the author divided by zero")


@pytest.fixture(autouse=True, scope="module")
def boom_init() -> Iterator[None]:
    """The registry is process-wide: register for this module, then leave it as it was."""
    kernelext.register("boom_init")(BoomOnInit)
    yield
    registry.unregister("boom_init")


def ledger_rows(home: Path) -> int:
    """Rows in every table of the ledger under ``home`` (0 when there is no ledger)."""
    path = home / "ledger.sqlite"
    if not path.is_file():
        return 0
    from kernelext.ledger import Ledger

    led = Ledger(path)
    try:
        tables = [r[0] for r in led.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return sum(led.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables)
    finally:
        led.close()


@pytest.fixture
def home(paperlab_home: Path) -> Path:
    return paperlab_home


def _files(home: Path) -> dict[str, Path]:
    """Paths the cases point at: a file, an empty folder, a corrupt ledger's home."""
    a_file = home.parent / f"{home.name}-a-file.txt"
    a_file.write_text("not a folder")
    empty = home.parent / f"{home.name}-empty"
    empty.mkdir(exist_ok=True)
    corrupt = home.parent / f"{home.name}-corrupt"
    corrupt.mkdir(exist_ok=True)
    (corrupt / "ledger.sqlite").write_text("this is not a database")
    return {"FILE": a_file, "EMPTY": empty, "CORRUPT": corrupt}


# (argv, field that the one line must name, exit code); FILE/EMPTY/CORRUPT are replaced by paths
CLI_CASES: list[tuple[list[str], str, int]] = [
    (["gc", "--older-than", "soon"], "older_than: expected a positive duration", 2),
    (["gc", "--older-than", "-1d"], "older_than: expected a positive duration", 2),
    (["paper", "--strategy", "nope", "--instrument", "BTC/USD"], "strategy", 2),
    (["paper", "--strategy", "ema_cross"], "instrument", 2),
    ([*PAPER[:-1], "BTC"], "instrument", 2),
    ([*PAPER[:-1], "QQQ.NASDAQ"], "instrument", 2),
    ([*PAPER[:-1], "ZZZ/USD"], "instrument", 2),
    ([*PAPER, "--bar-spec", "1-FORTNIGHT-LAST"], "bar_spec", 2),
    ([*PAPER, "--bar-spec", "0-MINUTE-LAST"], "bar_spec", 2),
    ([*PAPER, "--bar-spec", "1-MINUTE-BID"], "bar_spec", 2),
    ([*PAPER, "--params", "{bad"], "params", 2),
    ([*PAPER, "--params", "[1]"], "params", 2),
    ([*PAPER, "--params", '{"fast": "x"}'], "params", 2),
    ([*PAPER, "--params", '{"nope": 1}'], "params", 2),
    ([*PAPER, "--params", '{"fast": 30, "slow": 10}'], "params", 2),
    ([*PAPER, "--params", '{"fast": -3}'], "params", 2),
    (["paper", "--sleeves-json", f"[{SLEEVE % ', "params": [1]'}]"], "params", 2),
    (["paper", "--sleeves-json", f"[{SLEEVE % ', "params": 7'}]"], "params", 2),
    (["paper", "--sleeves-json", "not json"], "sleeves", 2),
    (["paper", "--sleeves-json", "[]"], "sleeves", 2),
    (["paper", "--sleeves-json", "[1]"], "sleeves", 2),
    (["paper", "--sleeves-json", '{"strategy": "ema_cross"}'], "sleeves", 2),
    (["paper", "--sleeves-json", '[{"strategy": "ema_cross"}]'], "sleeves", 2),
    (["paper", "--sleeves-json", f"[{SLEEVE % ', "colour": 1'}]"], "sleeves", 2),
    (["paper", "--sleeves-json", f"[{SLEEVE % ''}, {SLEEVE % ''}]"], "sleeves", 2),
    (["paper", "--sleeves-json", f"[{SLEEVE % ''}]", "--strategy", "ema_cross"], "sleeves", 2),
    (["paper", "--sleeves-json", f"[{SLEEVE % ', "bar_spec": "1-WEEK-LAST"'}]"], "bar_spec", 2),
    ([*PAPER, "--starting-cash", "-5 USD"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "0 USD"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "1e400 USD"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "lots"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "NaN USD"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "inf USD"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "100 USD extra"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "100000 EUR"], "starting_cash", 2),
    ([*PAPER, "--starting-cash", "100000 $$"], "starting_cash", 2),
    ([*PAPER[:2], "nope", *PAPER[3:]], "feed", 2),
    ([*PAPER[:2], "ib", *PAPER[3:]], "feed", 2),
    ([*PAPER, "--venue", "moon"], "venue", 2),
    ([*PAPER, "--speed", "0"], "speed", 2),
    ([*PAPER, "--speed", "-1"], "speed", 2),
    ([*PAPER, "--speed", "fast"], "speed", 2),
    ([*PAPER, "--speed", "nan"], "speed", 2),
    ([*PAPER, "--seed", "-1"], "seed", 2),
    ([*PAPER, "--seed", "x"], "seed", 2),
    ([*PAPER, "--seed", "99999999999"], "seed", 2),
    ([*PAPER, "--catalog", "/no/such/catalog"], "catalog", 2),
    ([*PAPER, "--catalog", "FILE"], "catalog", 2),
    ([*PAPER, "--catalog", "EMPTY"], "catalog", 2),
    ([*PAPER, "--bars", "0"], "bars", 2),
    ([*PAPER, "--bars", "-5"], "bars", 2),
    ([*PAPER, "--bars", "many"], "bars", 2),
    ([*PAPER, "--for", "0s"], "duration", 2),
    ([*PAPER, "--for", "10x"], "duration", 2),
    ([*PAPER, "--for", "-5m"], "duration", 2),
    ([*PAPER, "--for", "99999999999999999999d"], "duration", 2),
    ([*PAPER, "--for"], "duration", 2),
    ([*PAPER, "--until", "25:99"], "until", 2),
    ([*PAPER, "--until", "noon"], "until", 2),
    ([*PAPER, "--max-notional", "inf"], "max_notional", 2),
    ([*PAPER, "--max-notional", "0"], "max_notional", 2),
    ([*PAPER, "--max-notional", "-1"], "max_notional", 2),
    ([*PAPER, "--max-notional", "nan"], "max_notional", 2),
    ([*PAPER, "--max-notional", "lots"], "max_notional", 2),
    ([*PAPER, "--max-submit-rate", "10"], "max_order_submit_rate", 2),
    ([*PAPER, "--max-submit-rate", "0/00:00:01"], "max_order_submit_rate", 2),
    ([*PAPER, "--max-drawdown-pct", "150"], "max_drawdown_pct", 2),
    ([*PAPER, "--max-drawdown-pct", "0"], "max_drawdown_pct", 2),
    ([*PAPER, "--max-drawdown-pct", "nan"], "max_drawdown_pct", 2),
    ([*PAPER, "--margin", "lots"], "margin", 2),
    ([*PAPER, "--margin", "0.5"], "margin", 2),
    ([*PAPER, "--margin", "9"], "margin", 2),
    ([*PAPER, "--fee-tier", "lots"], "fee_tier", 2),
    ([*PAPER, "--fee-tier", "-5k"], "fee_tier", 2),
    ([*PAPER, "--outside-rth"], "outside_rth", 2),
    ([*PAPER, "--nope"], "--nope", 2),
    (["paper", "--strategy", "boom_init", "--instrument", "BTC/USD", "--feed", "replay"], "strategy", 2),
    (["paper", "--venue", "ib-paper", "--strategy", "ibs_reversion", "--instrument", "BTC/USD"], "instrument", 2),
    (["paper", "--venue", "ib-paper", "--strategy", "ibs_reversion", "--instrument", "QQQ.NASDAQ",
      "--account", "U1234567"], "account", 2),
    (["paper", "--venue", "ib-paper", "--strategy", "ibs_reversion", "--instrument", "QQQ.NASDAQ",
      "--speed", "60"], "speed", 2),
    (["paper", "--venue", "ib-paper", "--strategy", "ibs_reversion", "--instrument", "QQQ.NASDAQ",
      "--feed", "replay"], "feed", 2),
    ([], "command", 2),
    (["trade"], "command", 2),
    (["fills"], "session", 2),
    (["fills", "no-such-session"], "session", 2),
    (["fills", ""], "session", 2),
    (["fills", "latest", "--format", "xml"], "format", 2),
    (["fills", "latest", "--format", "parquet"], "format", 2),
    (["fills", "latest", "--out", "EMPTY"], "out", 2),
    (["fills", "latest", "--out", "/no/such/folder/fills.csv"], "out", 2),
    (["fills", "latest", "--out", "fills.xlsx"], "out", 2),
    (["fills", "latest", "--out", "FILE/fills.csv"], "out", 2),
    (["compare", "only-one"], "sessions", 2),
    (["compare", "a", "b", "c", "d"], "sessions", 2),
    (["compare", "a", "b"], "session", 2),
    (["compare", "a", "b", "--html", "report.txt"], "html", 2),
    (["compare", "a", "b", "--html", "/no/such/folder/r.html"], "html", 2),
    (["backtest", "--like", "nope"], "session", 2),
    (["backtest"], "instrument", 2),
    (["backtest", "--strategy", "ema_cross", "--instrument", "BTC/USD", "--bars", "0"], "bars", 2),
    (["serve", "--port", "99999"], "port", 2),
    (["serve", "--port", "0"], "port", 2),
    (["serve", "--port", "http"], "port", 2),
    (["ib", "status", "--timeout", "-1"], "timeout", 2),
    (["ib", "status", "--timeout", "nan"], "timeout", 2),
    (["ib", "status", "--timeout", "inf"], "timeout", 2),
    (["ib", "restart"], "action", 2),
    (["lab", "no-such-notebook.ipynb"], "notebook", 2),
    # the shell: status, controls, frame exports, logs
    (["status", "no-such-session"], "session", 2),
    (["status"], "session", 2),
    (["pause", "no-such-session"], "session", 2),
    (["resume"], "session", 2),
    (["flatten", ""], "session", 2),
    (["kill"], "session", 2),
    (["kill", "no-such-session"], "session", 2),
    (["kill", "a-session", "--all"], "session", 2),
    (["stop", "no-such-session"], "session", 2),
    (["orders", "no-such-session"], "session", 2),
    (["orders", "latest", "--format", "xml"], "format", 2),
    (["positions", "latest", "--out", "EMPTY"], "out", 2),
    (["equity", "latest", "--format", "parquet"], "format", 2),
    (["events", "latest", "--out", "events.xlsx"], "out", 2),
    (["round_trips", "latest", "--out", "/no/such/folder/trips.csv"], "out", 2),
    (["perf", "latest", "--open"], "--open", 2),
    (["logs", "no-such-session"], "session", 2),
    (["logs", "latest", "--lines", "0"], "lines", 2),
    (["logs", "latest", "--lines", "many"], "lines", 2),
    (["lab", "--port", "70000"], "port", 2),
    # reports
    (["report", "no-such-session"], "session", 2),
    (["report", "latest", "--html", "r.txt"], "html", 2),
    (["report", "latest", "--notify", "nope://x"], "notify", 2),
    # schedules and notifications: kept by the supervisor, so only with --detach
    ([*PAPER, "--report-every", "4h"], "report_every: needs --detach", 2),
    ([*PAPER, "--report-at", SOON], "report_at: needs --detach", 2),
    ([*PAPER, "--notify", "json://user:hunter2@127.0.0.1:9/x"], "notify: needs --detach", 2),
    ([*PAPER, "--detach", "--report-every", "soon"], "report_every", 2),
    ([*PAPER, "--detach", "--report-every", "0s"], "report_every", 2),
    ([*PAPER, "--detach", "--report-every"], "report_every", 2),
    ([*PAPER, "--detach", "--report-at", "noon"], "report_at", 2),
    ([*PAPER, "--detach", "--report-at", "2020-01-01T10:00"], "report_at", 2),
    ([*PAPER, "--detach", "--report-at", "2999-01-01T10:00"], "report_at", 2),
    ([*PAPER, "--detach", "--notify", "nope://user:hunter2@x"], "notify", 2),
    ([*PAPER, "--detach", "--notify", "127.0.0.1:8080/hook"], "notify", 2),
    ([*PAPER, "--detach", "--notify", "http://127.0.0.1:8080/hook"], "notify", 2),
    ([*PAPER, "--detach", "--notify-fills", "0s"], "notify_fills", 2),
]

HOME_CASES: list[tuple[str, list[str], str]] = [
    ("FILE", ["sessions"], "PAPERLAB_HOME"),
    ("FILE", PAPER, "PAPERLAB_HOME"),
    ("CORRUPT", ["sessions"], "PAPERLAB_HOME"),
    ("CORRUPT", ["fills", "latest"], "PAPERLAB_HOME"),
    ("/proc/paperlab-home", ["sessions"], "PAPERLAB_HOME"),
]


def _fill(words: list[str], files: dict[str, Path]) -> list[str]:
    out = []
    for w in words:
        for key, path in files.items():
            if w == key or w.startswith(f"{key}/"):
                w = str(path) + w[len(key):]
        out.append(w)
    return out


def _assert_one_line(err: str, prefix: str, field: str, what: Any) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, (what, err)
    assert lines[0].startswith(prefix), (what, err)
    assert field in lines[0], (what, field, err)
    assert "Traceback" not in err, (what, err)


@pytest.mark.parametrize(("argv", "field", "code"), CLI_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_cli(argv: list[str], field: str, code: int, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _fill(argv, _files(home))
    assert main(argv) == code
    out, err = capsys.readouterr()
    _assert_one_line(err, "paperlab: error:", field, argv)
    assert "Traceback" not in out
    assert ledger_rows(home) == 0, f"{argv} left rows in the ledger"


@pytest.mark.parametrize(("where", "argv", "field"), HOME_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_cli_with_a_bad_home(where: str, argv: list[str], field: str, home: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    files = _files(home)
    before = {p: p.read_bytes() for p in files["CORRUPT"].iterdir()}
    monkeypatch.setenv("PAPERLAB_HOME", str(files.get(where, where)))
    assert main(argv) == 2
    _assert_one_line(capsys.readouterr().err, "paperlab: error:", field, (where, argv))
    assert {p: p.read_bytes() for p in files["CORRUPT"].iterdir()} == before, "the corrupt ledger was changed"


def test_a_secret_in_a_bad_notify_url_is_never_repeated(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from kernelext import api

    for argv in ([*PAPER, "--notify", "json://user:hunter2@127.0.0.1:9/x"],
                 [*PAPER, "--detach", "--notify", "nope://user:hunter2@x"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert "hunter2" not in out + err and "notify" in err, err
    monkeypatch.setenv("PAPERLAB_NOTIFY", "json://u:p@127.0.0.1:9/x nope://user:hunter2@x")
    assert main([*PAPER, "--detach"]) == 2
    out, err = capsys.readouterr()
    _assert_one_line(err, "paperlab: error:", "PAPERLAB_NOTIFY", "a bad PAPERLAB_NOTIFY")
    assert "hunter2" not in out + err
    assert ledger_rows(home) == 0 and api.supervisor_pid() is None, "nothing may start or be written"


def test_labels_are_stored_without_control_characters_and_capped(home: Path) -> None:
    from kernelext import api

    spec = api.spec("ema_cross", "BTC/USD", feed="replay", label="\x1b[2J\x1b]0;pwned\x07evil\nlabel" + "x" * 5000)
    assert "\x1b" not in spec.label and "\x07" not in spec.label and "\n" not in spec.label
    assert spec.label.startswith("[2J]0;pwnedevil label") and len(spec.label) <= 120


# -- magics ---------------------------------------------------------------------------------------

MAGIC_CASES: list[tuple[str, str | None, str]] = [
    ("%paper start --strategy nope --instrument BTC/USD", None, "strategy"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --params '{bad'", None, "params"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --params '[1]'", None, "params"),
    (f"%paper start --sleeves-json '[{SLEEVE % ', \"params\": [1]'}]'", None, "params"),
    ("%paper start --strategy ema_cross --instrument 'BTC/USD", None, "line"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --starting-cash '1e400 USD'", None, "starting_cash"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --for 99999999999999999999d", None, "duration"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --max-notional inf", None, "max_notional"),
    ("%paper start --strategy boom_init --instrument BTC/USD --feed replay", None, "strategy"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --catalog /no/such/catalog", None, "catalog"),
    ("%%paper book", f'[{SLEEVE % ", \"params\": [1]"}]', "params"),
    ("%%paper book", "strategy: [unclosed", "sleeves"),
    ("%%paper book", "  \n  ", "book"),
    ("%%paper book", '{"strategy": "ema_cross"}', "sleeves"),
    ("%%paper book", "- strategy: ema_cross\n  instrument: BTC/USD\n  params: [1]", "params"),
    ("%%paper start --strategy ema_cross", "anything", "cell"),
    ("%paper launch", None, "command"),
    ("%paper fills no-such-session", None, "session"),
    ("%paper pause", None, "session"),
    ("%paper kill --session nope", None, "session"),
    ("%paper dashboard --session nope", None, "session"),
    ("%paper status --session nope", None, "session"),
    ("%paper perf --by colour", None, "by"),
    ("%paper compare only-one", None, "sessions"),
    ("%paper backtest --like nope", None, "session"),
    ("%paper events nope", None, "session"),
    ("%paper report nope", None, "session"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --report-every 4h", None, "report_every"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --detach --report-at noon", None, "report_at"),
    ("%paper start --strategy ema_cross --instrument BTC/USD --detach --notify nope://x", None, "notify"),
    ("%paper start --venue ib-live --strategy ibs_reversion --instrument QQQ.NASDAQ --i-understand U1234567", None,
     "live trading is disabled in this build"),
]


@pytest.fixture(scope="module")
def shell() -> Any:
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "kernelext")
    return ip


@pytest.mark.parametrize(("line", "cell", "field"), MAGIC_CASES, ids=lambda v: str(v)[:60])
def test_magic(line: str, cell: str | None, field: str, shell: Any, home: Path,
               capsys: pytest.CaptureFixture[str]) -> None:
    source = line if cell is None else f"{line}\n{cell}"
    result = shell.run_cell(source)
    out, err = capsys.readouterr()
    assert result.error_in_exec is None and result.error_before_exec is None, (source, out, err)
    _assert_one_line(err, "paper: error:", field, source)
    assert "Traceback" not in out
    assert ledger_rows(home) == 0


# -- kernelext.* ----------------------------------------------------------------------------------

PY_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("start unknown strategy", lambda: kernelext.start("nope", "BTC/USD"), "strategy"),
    ("start cash 1e400", lambda: kernelext.start("ema_cross", "BTC/USD", starting_cash="1e400 USD"), "starting_cash"),
    ("start huge duration", lambda: kernelext.start("ema_cross", "BTC/USD", duration="99999999999999999999d"), "duration"),
    ("start inf notional", lambda: kernelext.start("ema_cross", "BTC/USD", max_notional_per_order=float("inf")),
     "max_notional_per_order"),
    ("start speed", lambda: kernelext.start("ema_cross", "BTC/USD", speed="fast"), "speed"),
    ("start seed", lambda: kernelext.start("ema_cross", "BTC/USD", seed="seven"), "seed"),
    ("start params list", lambda: kernelext.start("ema_cross", "BTC/USD", params=[1]), "params"),
    ("start feed", lambda: kernelext.start("ema_cross", "BTC/USD", feed="pigeon"), "feed"),
    ("start venue", lambda: kernelext.start("ema_cross", "BTC/USD", venue="moon"), "venue"),
    ("start unknown option", lambda: kernelext.start("ema_cross", "BTC/USD", colour="red"), "colour"),
    ("start init raises", lambda: kernelext.start("boom_init", "BTC/USD", feed="replay"), "strategy"),
    ("book params list", lambda: kernelext.start_book([{"strategy": "ema_cross", "instrument": "BTC/USD", "params": [1]}]),
     "params"),
    ("book not json", lambda: kernelext.start_book("nope"), "sleeves"),
    ("backtest catalog", lambda: kernelext.backtest(strategy="ema_cross", instrument="BTC/USD", catalog_path="/no/such"),
     "catalog"),
    ("backtest nothing", lambda: kernelext.backtest(), "instrument"),
    ("backtest like", lambda: kernelext.backtest(like="nope"), "session"),
    ("compare one", lambda: kernelext.compare("a"), "sessions"),
    ("compare unknown", lambda: kernelext.compare("a", "b"), "session"),
    ("frames unknown", lambda: kernelext.frames.fills("nope"), "session"),
    ("attach unknown", lambda: kernelext.attach("nope"), "session"),
    ("start report_every without detach", lambda: kernelext.start("ema_cross", "BTC/USD", report_every="4h"),
     "report_every"),
    ("start notify without detach", lambda: kernelext.start("ema_cross", "BTC/USD", notify="json://127.0.0.1:9/x"),
     "notify"),
    ("start report_at past", lambda: kernelext.start("ema_cross", "BTC/USD", report_at="2020-01-01T10:00",
                                                     detach=True), "report_at"),
    ("start notify bad", lambda: kernelext.start("ema_cross", "BTC/USD", notify=["nope://x"], detach=True), "notify"),
    ("start notify not text", lambda: kernelext.start("ema_cross", "BTC/USD", notify=[7], detach=True), "notify"),
    ("report notify bad", lambda: kernelext.api.report("latest", notify="nope://x"), "notify"),
]


@pytest.mark.parametrize(("what", "call", "field"), PY_CASES, ids=[c[0] for c in PY_CASES])
def test_python_api(what: str, call: Callable[[], Any], field: str, home: Path) -> None:
    with pytest.raises(PaperLabError) as raised:
        call()
    line = one_line(raised.value)
    assert field in line and "\n" not in line, (what, line)
    assert ledger_rows(home) == 0


def test_python_api_errors_in_a_notebook_cell_are_one_line(shell: Any, home: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("import kernelext")
    capsys.readouterr()
    shell.run_cell("kernelext.start('ema_cross', 'BTC/USD', starting_cash='1e400 USD')")
    out, err = capsys.readouterr()
    _assert_one_line(err, "paper: error:", "starting_cash", "kernelext.start in a cell")
    assert "Traceback" not in out


def test_the_table_is_large_enough() -> None:
    assert len(CLI_CASES) + len(HOME_CASES) + len(MAGIC_CASES) + len(PY_CASES) >= 80


def test_an_unknown_instrument_names_each_kind_of_symbol_once(home: Path) -> None:
    with pytest.raises(PaperLabError) as raised:
        kernelext.start("ema_cross", "AAPL")
    line = one_line(raised.value)
    assert line.startswith("instrument: expected a spot pair like BTC/USD"), line
    hints = line.split("expected ", 1)[1].split(" (got")[0].split(", or ")
    assert len(hints) == len(set(hints)) == 3, line  # Binance's two venues share one symbology
