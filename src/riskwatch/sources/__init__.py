"""Data sources behind one small interface: synthetic, Polygon (massive) and IBKR (ib_async)."""
