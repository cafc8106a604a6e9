"""Download links: a notice's ``{LINK_BASE_URL}/m/{token}``, and what a click on it gets.

=============  ==========================================================================
``token``      making tokens, their SHA-256, ``link#`` ids, parsing paths and URLs (pure)
``item``       the link item and its DynamoDB form (pure)
``resolve``    link item + now -> redirect, 404 or 410 with its reason (pure)
``pages``      the short HTML pages of a refused link (pure)
``store``      DynamoDB adapter: put, get, count a download, revoke, the CLI's list
``answer``     one request answered: lookup, decision, presigned GET of the version
=============  ==========================================================================
"""

from .answer import PRESIGN_SECONDS, Answer, answer, presign
from .item import RETENTION, Link, from_item, to_item
from .pages import PAGE_HEADERS, page
from .resolve import Decision, resolve
from .store import LinkTable
from .token import ID_PREFIX, link_id, link_url, new_token, short, token_from_path, token_from_url, token_hash

__all__ = [
    "ID_PREFIX",
    "PAGE_HEADERS",
    "PRESIGN_SECONDS",
    "RETENTION",
    "Answer",
    "Decision",
    "Link",
    "LinkTable",
    "answer",
    "from_item",
    "link_id",
    "link_url",
    "new_token",
    "page",
    "presign",
    "resolve",
    "short",
    "to_item",
    "token_from_path",
    "token_from_url",
    "token_hash",
]
