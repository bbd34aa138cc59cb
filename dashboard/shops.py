"""Dive shops and their secret links, and the operator's ``nemopi shop`` commands.

A shop reports the visibility its divers saw without an account: the operator gives it a link
``/shop/<token>`` once (``nemopi shop add``), and opening the link signs the phone in. The
token is 32 random bytes; only its SHA-256 is stored, so a copy of the database does not hold
working links, and a link that leaks is stopped with ``nemopi shop revoke`` (which also ends
the sessions it opened: every request checks the shop is still active). Re-adding a revoked
shop gives it a new link and keeps its past reports.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, Connection, Engine, select, update

from dashboard import process as proc
from dashboard.config import WebConfig, load_web_config
from dashboard.models import MAX_SHOP_NAME_CHARS, shops

log = logging.getLogger(__name__)

TOKEN_BYTES = 32
LINK_PATH = "/shop/"


class ShopError(ValueError):
    """A shop that cannot be added or revoked as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Shop:
    key: int
    name: str
    created_at: datetime
    revoked_at: datetime | None


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_shop(conn: Connection, name: str, now: datetime) -> str:
    """Create the shop (or re-admit a revoked one) and return its new token, the only copy."""
    name = name.strip()
    if not name or len(name) > MAX_SHOP_NAME_CHARS:
        raise ShopError(f"a shop name needs 1..{MAX_SHOP_NAME_CHARS} characters")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    found = conn.execute(select(shops.c.key, shops.c.revoked_at).where(shops.c.name == name))
    existing = found.one_or_none()
    if existing is None:
        conn.execute(
            shops.insert().values(name=name, token_sha256=token_sha256(token), created_at=now)
        )
    elif existing.revoked_at is None:
        raise ShopError(f"{name!r} already has a link; revoke it first to give it a new one")
    else:
        conn.execute(
            update(shops)
            .where(shops.c.key == existing.key)
            .values(token_sha256=token_sha256(token), revoked_at=None)
        )
    return token


def revoke_shop(conn: Connection, name: str, now: datetime) -> None:
    """Stop the shop's link and end its sessions; its reports stay."""
    done = conn.execute(
        update(shops)
        .where(shops.c.name == name.strip(), shops.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if done.rowcount == 0:
        raise ShopError(f"no shop {name.strip()!r} with a working link")


def list_shops(conn: Connection) -> list[Shop]:
    query = select(shops.c.key, shops.c.name, shops.c.created_at, shops.c.revoked_at)
    return [Shop(*row) for row in conn.execute(query.order_by(shops.c.name))]


def shop_for_token(conn: Connection, token: str) -> Shop | None:
    """The active shop whose link carries ``token``, or None."""
    return _active(conn, shops.c.token_sha256 == token_sha256(token))


def active_shop(conn: Connection, key: int) -> Shop | None:
    """The shop with ``key``, unless it was revoked (or never existed)."""
    return _active(conn, shops.c.key == key)


def _active(conn: Connection, condition: ColumnElement[bool]) -> Shop | None:
    query = select(shops.c.key, shops.c.name, shops.c.created_at, shops.c.revoked_at).where(
        condition, shops.c.revoked_at.is_(None)
    )
    row = conn.execute(query).one_or_none()
    return None if row is None else Shop(*row)


# ------------------------------------------------------------ the operator's commands


def add_command(config_path: Path, name: str, base_url: str | None) -> int:
    """``nemopi shop add``: print the new link once."""
    links: list[str] = []

    def add(config: WebConfig, conn: Connection) -> None:
        token = add_shop(conn, name, datetime.now(UTC))
        base = (base_url or f"http://{config.host}:{config.port}").rstrip("/")
        links.append(f"{base}{LINK_PATH}{token}")

    code = _with_database(config_path, add)
    if code == proc.EXIT_OK:
        _say(
            f"Added {name.strip()!r}. Its link, shown only now -- send it to the shop; opening "
            f"it signs a phone in to report visibility:\n{links[0]}"
        )
    return code


def revoke_command(config_path: Path, name: str) -> int:
    code = _with_database(
        config_path, lambda _config, conn: revoke_shop(conn, name, datetime.now(UTC))
    )
    if code == proc.EXIT_OK:
        _say(f"Revoked {name.strip()!r}: its link and sessions no longer work.")
    return code


def list_command(config_path: Path) -> int:
    found: list[Shop] = []
    code = _with_database(config_path, lambda _config, conn: found.extend(list_shops(conn)))
    if code == proc.EXIT_OK:
        _say(f"{'name':<40} {'added (UTC)':<17} link")
        for shop in found:
            state = "works" if shop.revoked_at is None else f"revoked {shop.revoked_at:%Y-%m-%d}"
            _say(f"{shop.name:<40} {shop.created_at:%Y-%m-%d %H:%M} {state}")
    return code


def _with_database(config_path: Path, work: Callable[[WebConfig, Connection], object]) -> int:
    def in_transaction(config: WebConfig, engine: Engine) -> None:
        with engine.begin() as conn:
            work(config, conn)

    return proc.run_on_database(
        config_path, load_web_config, "shop-admin", in_transaction, (ShopError,)
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
