"""``app/`` is an application of its own: its tests run against the installed wheel only."""

collect_ignore = ["app"]
