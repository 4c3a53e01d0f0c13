"""Infobip's published source addresses, for ``DLRHOOK_ALLOWED_IPS=infobip``.

Source: Infobip's "main IP list" for incoming messages, delivery, seen and deleted reports, on
its documentation page developer-resources/security/ip-address-safelist (docs/infobip.md,
"Where pushes come from"), read 2026-11-30. Infobip changes the list:
compare it with that page when upgrading, and list a new range beside ``infobip`` meanwhile
(``DLRHOOK_ALLOWED_IPS=infobip,192.0.2.0/24``).
"""

from __future__ import annotations

#: The word in ``DLRHOOK_ALLOWED_IPS`` that stands for :data:`INFOBIP_RANGES`.
KEYWORD = "infobip"

#: The date :data:`INFOBIP_RANGES` was read from Infobip's page.
READ_ON = "2026-11-30"

INFOBIP_RANGES: tuple[str, ...] = (
    "193.105.74.0/24",
    "62.140.31.0/24",
    "83.166.64.0/19",
    "202.22.160.0/20",
    "81.23.248.0/21",
    "185.255.8.0/22",
    "208.93.48.0/22",
    "89.164.98.0/24",
    "149.5.186.0/24",
    "171.244.0.32/27",
    "203.223.163.32/28",
    "203.223.170.88/29",
    "119.30.69.0/28",
    "103.23.95.200/29",
    "13.87.78.119/32",
    "20.216.25.182/32",
    "20.173.68.171/32",
    "172.195.40.23/32",
    "34.166.0.168/32",
    "34.166.49.86/32",
    "20.233.44.67/32",
    "66.203.199.128/27",
    "20.108.54.3/32",
)
