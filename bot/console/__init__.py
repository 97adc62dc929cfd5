"""The hotline operators' console (issue 8, docs/console.md): tables, services and the command line.

The HTTP side is the Rasa input channel bot/console/channel.py.
"""
