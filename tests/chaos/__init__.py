"""Fault injection and an exactly-once checker (SPEC §10.2); ``harness.py`` tells the story.

``python -m tests.chaos --minutes 10`` (``make chaos``) runs it for long; ``test_chaos.py``
runs a minute of it in ``make test``.
"""
