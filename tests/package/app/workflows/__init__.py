"""The application's own workflows (the layout of Temporal's samples)."""
