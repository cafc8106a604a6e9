"""``python -m vaultmail_dev.emulator``: see cli.py."""

from .cli import main

raise SystemExit(main())
