"""The application's own activities."""
