"""What the header reader returns: mailboxes and the headers vaultmail needs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mailbox:
    """One address: display name and bare address (domain lower-cased)."""

    name: str
    addr: str

    @property
    def domain(self) -> str:
        return self.addr.rpartition("@")[2]


@dataclass(frozen=True)
class MailHeaders:
    """What vaultmail needs from a mail's header block."""

    from_: tuple[Mailbox, ...] = ()
    sender: tuple[Mailbox, ...] = ()
    to: tuple[Mailbox, ...] = ()
    cc: tuple[Mailbox, ...] = ()
    bcc: tuple[Mailbox, ...] = ()
    reply_to: tuple[Mailbox, ...] = ()
    subject: str | None = None
    message_id: str | None = None
    date: str | None = None
    header_bytes: int = 0
    truncated: bool = False
    skipped: tuple[str, ...] = field(default=())

    def addresses(self, *fields: str) -> list[str]:
        """Bare addresses of the given fields (default From, To, Cc, Bcc), in header order."""
        names = fields or ("from_", "to", "cc", "bcc")
        return [m.addr for n in names for m in getattr(self, n)]

    @property
    def recipients(self) -> tuple[Mailbox, ...]:
        return self.to + self.cc + self.bcc

    def as_dict(self) -> dict[str, object]:
        """The keys of ``vaultmail inspect --json`` (docs/cli.md), vaults excluded."""
        return {
            "from": [m.addr for m in self.from_],
            "to": [m.addr for m in self.to],
            "cc": [m.addr for m in self.cc],
            "bcc": [m.addr for m in self.bcc],
            "replyTo": [m.addr for m in self.reply_to],
            "subject": self.subject,
            "messageId": self.message_id,
            "date": self.date,
            "headerBytes": self.header_bytes,
        }
