"""Rasa channels: REST behind the guard, kiosk, WeChat (the console has its own package)."""
