"""Hand-written ``temporalio`` equivalents of the bench jobs, one module per kind.

Each is what a Temporal developer would write for that one job without the library: an entity
workflow per key, update-with-start from the client, the state in the workflow, a timer for
the deadline or alarm, an activity for user code that may do I/O, and continue-as-new when
Temporal suggests it. They run in Temporal's default workflow sandbox, as hand-written
workflows do (``bench/worker_process.py``).
"""
