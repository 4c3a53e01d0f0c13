"""Dispatch: RQ workers that hand every stored report to each handler plugin, with retries,
dead letters and replay. Nothing here imports Flask or :mod:`dlrhook.webhook`.
"""
