"""alpaca-tui: manage Alpaca API credentials from the terminal and prove they work."""

__version__ = "0.1.0"
