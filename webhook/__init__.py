"""dlrhook's receiving side: settings, schemas, the ingest pipeline, and the HTTP app.

Only ``webhook.app`` and ``webhook.problems`` import Flask, so workers and the poller can
import the rest without it.
"""
