"""Vault selection (pure): which Active Store vaults a mail belongs to.

A vault is an address on one of the customer's primary domains. It is chosen from
the mail's From, To, Cc and Bcc (exact domain, case-insensitive, no subdomains)
plus the ``-r`` recipients and ``-s`` sender given by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import InvalidRecipient, NoPrimaryDomainRecipient
from .headers import MailHeaders, domain_key, normalize_address


@dataclass(frozen=True)
class Selection:
    """The outcome of vault selection: sorted vaults, their domains, the sender vault."""

    vaults: tuple[str, ...]
    domains: tuple[str, ...]
    sender: str | None


def _on_primary(addr: str, keys: dict[str, str]) -> str | None:
    """The vault id for ``addr`` if its domain is a primary domain, else None."""
    local, _, domain = addr.rpartition("@")
    configured = keys.get(domain_key(domain))
    return f"{local.lower()}@{configured}" if configured else None


def _domain_keys(primary_domains: str | Iterable[str]) -> dict[str, str]:
    """``{comparable key: configured spelling}``; a str is a comma-separated PRIMARY_DOMAIN."""
    if isinstance(primary_domains, str):
        primary_domains = primary_domains.split(",")
    keys: dict[str, str] = {}
    for d in primary_domains:
        spelling = d.strip().lower().lstrip("@").rstrip(".")
        if spelling:
            keys.setdefault(domain_key(spelling), spelling)
    return keys


def _where(keys: dict[str, str]) -> str:
    return ", ".join(sorted(set(keys.values()))) or "(PRIMARY_DOMAIN is empty)"


def parse_ids(
    values: str | Sequence[str] | None, primary_domains: str | Iterable[str]
) -> list[str]:
    """Validate ``-r``/``-s`` values: each must be a bare address on a primary domain.

    ``values`` is a comma-separated string (the SDK's ``-r a@x,b@x``) or a list of them.
    Returns the vault ids (lower-cased, configured domain spelling), first occurrence order,
    without duplicates. Raises InvalidRecipient naming the first bad value.
    """
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    keys = _domain_keys(primary_domains)
    out: list[str] = []
    for item in items:
        for raw in item.split(","):
            raw = raw.strip()
            if not raw:
                continue
            addr = normalize_address(raw)
            vault = _on_primary(addr, keys) if addr else None
            if vault is None:
                raise InvalidRecipient(
                    f"{raw!r} is not a valid address on the primary domain(s) {_where(keys)}"
                )
            if vault not in out:
                out.append(vault)
    return out


def select_vaults(
    headers: MailHeaders,
    primary_domains: str | Sequence[str],
    *,
    recipients: str | Sequence[str] | None = None,
    sender: str | Sequence[str] | None = None,
) -> Selection:
    """Pick the vaults of a mail; raises NoPrimaryDomainRecipient if there are none."""
    keys = _domain_keys(primary_domains)
    extra = parse_ids(recipients, primary_domains)
    sender_ids = parse_ids(sender, primary_domains)
    if len(sender_ids) > 1:
        raise InvalidRecipient(f"-s takes one address, got {len(sender_ids)}")
    found = [v for a in headers.addresses() if (v := _on_primary(a, keys))]
    vaults = tuple(sorted(set(found + extra + sender_ids)))
    if not vaults:
        raise NoPrimaryDomainRecipient(
            f"no From/To/Cc/Bcc address is on the primary domain(s) {_where(keys)}; "
            "check PRIMARY_DOMAIN or name a vault with -r"
        )
    from_vault = next((v for a in headers.addresses("from_") if (v := _on_primary(a, keys))), None)
    chosen_sender = sender_ids[0] if sender_ids else from_vault
    domains = tuple(sorted({v.rpartition("@")[2] for v in vaults}))
    return Selection(vaults=vaults, domains=domains, sender=chosen_sender)
