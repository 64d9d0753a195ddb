"""Driveguard's local Google emulator: OAuth/OIDC, Drive `about`, Drive batch, Reports usage.

A separate program that speaks Google's wire formats on Google's paths, so the product can
run end to end offline by pointing its endpoint settings at it. The product never imports it.
"""

from .app import create_app
from .config import EmulatorConfig
from .models import Account, Client
from .state import EmulatorState

__all__ = ["Account", "Client", "EmulatorConfig", "EmulatorState", "create_app"]
