"""Infobip's OpenAPI specification as the judge of every report shape (issue 16).

:mod:`.extract` takes the ``webhooks`` section of Infobip's spec files and writes each
delivery-report, seen-report and email user-event webhook's examples and request-body schema
into ``tests/samples/spec/``; ``tests/unit/spec/`` pushes them through the app.
"""
