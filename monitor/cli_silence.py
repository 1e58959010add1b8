"""``telepath-monitor silence add|list|expire``: silences kept in the state DB."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from monitor.cli_support import add_settings_flags, print_table, settings_from
from monitor.errors import SettingsError

SILENCE_SETTINGS = ("state_db", "log_level", "log_format")


def add_silence(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "silence",
        help="hold the notifications of matching alerts for a while",
        description="Silences are kept in the state DB; a running daemon applies them at its "
        "next evaluation. Silenced alerts still change state and show in once, the status "
        "page and metrics; only their notifications are held. A silence that ends while its "
        "alert still fires lets the notification out then.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    add = actions.add_parser("add", help="add a silence; prints its id")
    add.add_argument("--rule", required=True, help="rule name or glob, e.g. 'voice-*'")
    add.add_argument("--trunk", default="*", help="trunk id or glob ('account' for account-wide)")
    add.add_argument("--for", dest="duration", required=True, help="how long, e.g. 30m, 2h, 1d")
    add.add_argument("--comment", required=True, help="why (shown in list and logs)")
    add.add_argument("--author", default=None, help="who (default: $USER)")
    add_settings_flags(add, *SILENCE_SETTINGS)
    add.set_defaults(handler=_silence_add)
    listing = actions.add_parser("list", help="silences in force (--all: also ended ones)")
    listing.add_argument("--all", action="store_true", help="include ended silences")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add_settings_flags(listing, *SILENCE_SETTINGS)
    listing.set_defaults(handler=_silence_list)
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", metavar="ID", help="the silence id (or a unique prefix)")
    add_settings_flags(expire, *SILENCE_SETTINGS)
    expire.set_defaults(handler=_silence_expire)


def _silence_add(args: argparse.Namespace) -> int:
    import getpass
    import secrets as token
    from datetime import UTC

    from monitor.config import parse_duration
    from monitor.quiet import Silence
    from monitor.store import StateStore

    settings = settings_from(args, *SILENCE_SETTINGS)
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise SettingsError(f"--for: {exc}") from None
    if not args.comment.strip():
        raise SettingsError("--comment must say why")
    now = datetime.now(UTC)
    silence = Silence(
        id=token.token_hex(4),
        rule=args.rule,
        trunk=args.trunk,
        starts_at=now,
        ends_at=now + duration,
        comment=args.comment.strip(),
        created_by=args.author or getpass.getuser(),
        created_at=now,
    )
    store = StateStore(settings.state_db)
    try:
        store.add_silence(silence)
    finally:
        store.close()
    print(silence.id)
    return 0


def _silence_list(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC

    from monitor.store import StateStore

    settings = settings_from(args, *SILENCE_SETTINGS)
    now = datetime.now(UTC)
    store = StateStore(settings.state_db)
    try:
        silences = store.silences(active_at=None if args.all else now)
    finally:
        store.close()
    rows = [
        {
            "id": s.id,
            "rule": s.rule,
            "trunk": s.trunk,
            "active": s.active(now),
            "starts_at": s.starts_at.isoformat(timespec="seconds"),
            "ends_at": (s.expired_at or s.ends_at).isoformat(timespec="seconds"),
            "created_by": s.created_by,
            "comment": s.comment,
        }
        for s in silences
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, list(rows[0]) if rows else ["id"], "(no silences)")
    return 0


def _silence_expire(args: argparse.Namespace) -> int:
    from datetime import UTC

    from monitor.store import StateStore

    settings = settings_from(args, *SILENCE_SETTINGS)
    store = StateStore(settings.state_db)
    try:
        found = store.expire_silence(args.id, datetime.now(UTC))
    finally:
        store.close()
    if not found:
        print(f"telepath-monitor: no single silence with id {args.id!r}", file=sys.stderr)
        return 1
    print(f"silence {args.id} expired")
    return 0
