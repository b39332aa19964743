"""Which image URLs the bot may download (no SSRF through a backend's or a member's URL).

The bot downloads result images (to re-upload them) and a parent image (to size a Vary (Region)
mask). Those URLs come from the backend's answers, so a wrong or hostile backend answer must not
make the bot read its own machine or the private network. Allowed:

* the account's own backend host (same scheme, host and port as its ``base_url``), whatever its
  address: a self-hosted midjourney-proxy on the LAN, or the sandbox on loopback, serves its
  images from there;
* Discord's and Midjourney's CDNs over https.

Anything else is refused: other names, every IP literal (loopback, private, link-local…) that is
not the account's own host, URLs with credentials. Names are compared, not resolved: the CDN names
cannot be pointed at a private address by a member, and every other name is refused anyway.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: Hosts (and their subdomains) whose https images any account may return.
CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net", "cdn.midjourney.com"})


def allowed_image_url(url: str, account_base_url: str | None) -> bool:
    """Whether the bot may GET ``url`` for a job of the account at ``account_base_url``."""
    try:
        target = urlsplit(url)
        port = target.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    host = (target.hostname or "").rstrip(".").lower()
    if target.scheme not in ("http", "https") or not host or target.username or target.password:
        return False
    if account_base_url and _same_origin(target.scheme, host, port, account_base_url):
        return True
    if target.scheme != "https" or _is_ip(host):
        return False
    return any(host == cdn or host.endswith("." + cdn) for cdn in CDN_HOSTS)


def _same_origin(scheme: str, host: str, port: int | None, base_url: str) -> bool:
    try:
        base = urlsplit(base_url)
        base_port = base.port
    except ValueError:
        return False
    base_host = (base.hostname or "").rstrip(".").lower()
    return (
        bool(base_host)
        and scheme == base.scheme
        and host == base_host
        and _port(scheme, port) == _port(base.scheme, base_port)
    )


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
