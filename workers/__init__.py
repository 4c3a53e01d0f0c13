"""dlrhook's background side: dispatch to handler plugins, retries, the poller, and the CLI.

Nothing here imports Flask.
"""
