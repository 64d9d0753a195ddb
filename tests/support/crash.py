"""Stopping product code the way a killed process stops: no cleanup, no `except Exception` catching it."""

from __future__ import annotations


class SimulatedCrash(BaseException):
    """Raised from a test seam (e.g. a dispatcher's `after_send`); a BaseException, so the code under
    test cannot handle it and leaves its rows exactly as a dead process would."""
