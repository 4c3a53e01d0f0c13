"""For running dlrhook on one machine: the embedded Redis (Valkey) server and the simulator of
Infobip's pushes. Nothing in the service's request path imports this subpackage.
"""
