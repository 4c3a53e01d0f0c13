"""The HTTP side: the notify URL, the read API, health, metrics and OpenAPI, under gunicorn.

A push goes ``app.notify`` -> ``auth`` -> :mod:`dlrhook.parsing` -> :func:`dlrhook.ingest.ingest`
-> 200, or a problem answer decided in ``problems``. Only this subpackage imports Flask, and it
never imports :mod:`dlrhook.workers`: the web queues drain jobs by dotted path.
"""
