"""Garbage-collector settings for the server processes (chatsite/asgi.py).

A chat server holds hundreds of thousands of long-lived objects (Django, the
application, every socket's consumer); CPython's full collection walks all of
them and stops the process meanwhile: ~300 ms on the benchmark machine with
1,000 sockets, every few seconds under load — the p99 of every delivery in that
window. Two changes (docs/performance.md):

- ``gc.freeze()`` once the application is imported: what exists at start-up
  (modules, classes, settings, URL patterns) is never walked again;
- full collections a hundred times rarer (the third threshold, 10 -> 1000): the
  young generations are still collected as often as by default, and they are
  cheap; cyclic garbage that outlives them is collected minutes later instead of
  seconds.
"""

import gc

THRESHOLDS = (700, 10, 1000)


def tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
