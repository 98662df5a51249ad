"""Research on the ledger: Polars frames, backtests, comparisons, the backtest gate."""
