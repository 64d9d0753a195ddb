"""The launcher's stop signals: recorded, never raised, repeats ignored, installed even when inherited as ignored."""

from __future__ import annotations

import os
import signal

import pytest

from launcher.supervisor import StopRequested, StopSignals


@pytest.fixture
def pristine_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_sigint_inherited_as_ignored_still_stops_the_launcher(pristine_handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a script's background job inherits
    signals = StopSignals()
    signals.install()

    os.kill(os.getpid(), signal.SIGINT)

    assert signals.received == "SIGINT"
    with pytest.raises(StopRequested):
        signals.check()
    signals.restore()
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_signals_during_the_stop_are_ignored_with_a_line_and_never_raise(pristine_handlers, capfd):
    signals = StopSignals()
    signals.install()
    os.kill(os.getpid(), signal.SIGTERM)
    signals.stopping = True

    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C pressed again while stopping
    os.kill(os.getpid(), signal.SIGHUP)  # then the terminal closes

    assert signals.received == "SIGTERM"
    err = capfd.readouterr().err
    assert "SIGINT received: already stopping" in err
    assert "SIGHUP received: already stopping" in err


def test_a_requested_stop_cuts_a_wait_short(pristine_handlers):
    signals = StopSignals()
    signals.install()
    os.kill(os.getpid(), signal.SIGTERM)

    signals.sleep(3600)  # returns at once instead of blocking the stop

    assert signals.requested
