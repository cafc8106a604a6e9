"""vaultmail: archive raw mail into Vaultastic's Active Store; notify recipients of oversize mail.

The public Python API for the SDK's "Method 2" users::

    from vaultmail import upload_mail
    upload_id = upload_mail(open("mail.eml", "rb"), recipients="ops@acme.com")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["VaultmailError", "__version__", "uploadMailToVaultasticActiveStore", "upload_mail"]

if TYPE_CHECKING:
    from .archive import upload_mail
    from .errors import VaultmailError


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (e.g. a Lambda cold start) must not import requests.
    if name in ("upload_mail", "uploadMailToVaultasticActiveStore"):
        from .archive import upload_mail

        return upload_mail
    if name == "VaultmailError":
        from .errors import VaultmailError

        return VaultmailError
    raise AttributeError(f"module 'vaultmail' has no attribute {name!r}")
