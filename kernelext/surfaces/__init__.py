"""The surfaces people use: the CLI, the notebook magics, the display registry."""
