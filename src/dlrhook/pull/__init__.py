"""The pull side: the poller that pulls ``GET /sms/1/reports`` (and the other channels' report
paths) into the same ingest as pushes, Infobip's HTTP client, and reconciliation against the
message logs. Nothing here imports Flask or :mod:`dlrhook.workers`.
"""
