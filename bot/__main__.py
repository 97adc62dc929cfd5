"""Command line: python -m bot run | train (bot/launcher.py)."""

import sys

from bot.launcher import main

sys.exit(main())
