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
from urllib.parse import urlsplit, urlunsplit

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


# --------------------------------------------------------------------------------------------
# Addresses an account added with /setup may reach
# --------------------------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Not "global" although Python's ``is_global`` may say so: multicast, IETF protocol assignments
#: (Oracle's metadata service is 192.0.0.192), and CGNAT (Alibaba's metadata is 100.100.100.200).
_NEVER_PUBLIC: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("224.0.0.0/4", "192.0.0.0/24", "100.64.0.0/10", "ff00::/8", "64:ff9b:1::/48")
)


class AddressPolicy:
    """Which IP addresses the bot may connect to for a server admin's account.

    Public addresses only, unless the operator's config allows private ones (all, or listed
    networks): see ``[network]`` in config.example.toml. An IPv6 address carrying an IPv4 one
    (mapped, NAT64, 6to4, Teredo) is judged by the IPv4 address.
    """

    def __init__(self, allow_private: bool = False, networks: tuple[IPNetwork, ...] = ()) -> None:
        self.allow_private = allow_private
        self.networks = networks

    def allows(self, address: IPAddress) -> bool:
        if self.allow_private:
            return True
        return is_public(address) or any(address.version == n.version and address in n for n in self.networks)


def is_public(address: IPAddress) -> bool:
    """Not loopback, private, link-local, CGNAT, multicast, unspecified, reserved or metadata."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not any(address.version == n.version and address in n for n in _NEVER_PUBLIC)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_address(text: str) -> IPAddress:
    """An address as ``getaddrinfo`` gives it (an IPv6 one may carry a ``%scope``)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def shown_url(url: str) -> str:
    """``url`` fit to show or log: user, password and query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "(an invalid address)"
    if "@" in parts.netloc:
        netloc = f"***@{netloc}"
    query = "&".join(
        f"{key}=***" if sep else key
        for key, sep, _ in (p.partition("=") for p in parts.query.split("&") if p)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, "***" if parts.fragment else ""))


def same_origin(first: str, second: str) -> bool:
    """Whether two base URLs have the same scheme, host and port."""
    try:
        target = urlsplit(first)
        port = target.port
    except ValueError:
        return False
    host = (target.hostname or "").rstrip(".").lower()
    return _same_origin(target.scheme, host, port, second)
