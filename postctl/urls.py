"""Database URLs as text: what is wrong with one, and its password hidden in every form.

Everything here takes any text at all and never raises where it masks: it runs
inside error handlers, on URLs that may not parse.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url
from sqlalchemy.engine import URL

from postctl.errors import ConfigError

# Query parameters that some drivers take a password from.
_SECRET_KEYS = ("password", "passwd", "pwd")
# Where a URL's password starts as written: after the user name's ":". It ends at
# some "@" after that: the first, or a later one when an "@" was left unencoded.
_PASSWORD_START = re.compile(r"[^:/]*://[^:/@]*:", re.S)
# After the "://": the user information (up to the first "@"), then host and port.
_HOST_PORT = re.compile(r"(?:[^:/]*(?::[^@]*)?@)?([^/?]*)", re.S)
MASK = "***"
# Free text is searched for passwords this long or longer: masking every "p" of a
# message would garble it, and show the password by its gaps. URLs are masked whole.
MIN_HIDDEN = 4


def mask_url(url: str | URL) -> str:
    """Return the URL as text with its password hidden; never raise."""
    try:
        parsed = make_url(url)
        query = {k: (MASK if k.lower() in _SECRET_KEYS else v) for k, v in parsed.query.items()}
        rendered = parsed.set(query=query).render_as_string(hide_password=True)
        return rendered.replace("=%2A%2A%2A", "=" + MASK)  # a masked query value, unescaped
    except Exception:  # any URL at all: this runs inside error handlers
        return "<unparseable database URL>"


def url_problem(url: str) -> str | None:
    """Say what is wrong with a database URL, or None, without repeating it (a password)."""
    if "\0" in url:
        return "it contains a NUL character"
    if not _encodes(url):
        return "it is not valid UTF-8 text"
    problem = _authority_problem(url)
    if problem is not None:
        return problem
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        return "not of the form dialect+driver://user:password@host:port/database"
    except ValueError:  # SQLAlchemy's int() of the port
        return "the port is not a number"
    except Exception as err:
        return f"it cannot be parsed ({type(err).__name__})"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return "the port is not from 1 to 65535"
    if parsed.drivername == "postgres":  # PostgreSQL's own short form: see postctl.postgres
        parsed = parsed.set(drivername="postgresql")
    try:
        parsed.get_dialect()
    except sa_exc.NoSuchModuleError:
        return f"unknown kind of database {parsed.drivername!r}"
    except Exception as err:
        return f"its database kind {parsed.drivername!r} cannot be loaded ({type(err).__name__})"
    return None


def _authority_problem(url: str) -> str | None:
    """Check the host and port as SQLAlchemy's URL pattern finds them, before it parses them."""
    after = url.partition("://")[2]
    match = _HOST_PORT.match(after)
    whole, host_port = (match.group(0), match.group(1)) if match else ("", "")
    # An "@" left in a password ends it there: what follows becomes the host, or, after a
    # "/" in the password too, the database name (and part of the password is shown).
    in_path = "@" in whole and "@" in after[len(whole) :].partition("?")[0]
    if "@" in host_port or in_path:
        return "an '@' in the user name or password must be written as %40"
    if host_port.startswith("["):
        _host, closed, port = host_port[1:].partition("]")
        if not closed:
            return "an IPv6 host must be closed with ']'"
        if port and not port.startswith(":"):
            return "only a port may follow an IPv6 host"
        port = port[1:]
    else:
        port = host_port.partition(":")[2]
    if port and not (port.isascii() and port.isdigit()):
        return "the port is not a number"
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_url(url: str) -> None:
    """Raise ConfigError unless the URL parses and names a known database; connect to nothing."""
    problem = url_problem(url)
    if problem is not None:
        raise ConfigError(f"invalid database URL: {problem}")


def password_forms(url: str) -> list[str]:
    """Return every text the URL's password may show as: as written, decoded, encoded.

    Longest first (ties alphabetical, whatever the hash seed). Works on any text,
    parseable or not, and never raises.
    """
    found: set[str] = set()
    try:
        parsed = make_url(url)
        found.add(str(parsed.password or ""))
        found.update(str(v) for k, v in parsed.query.items() if k.lower() in _SECRET_KEYS)
    except Exception:
        pass
    start = _PASSWORD_START.match(url)
    if start:
        rest = url[start.end() :]
        found.update(rest[:at] for at, char in enumerate(rest) if char == "@")
    for written in list(found):
        for form in (unquote, lambda t: quote(t, safe=""), lambda t: quote(unquote(t), safe="")):
            try:
                found.add(form(written))
            except Exception:  # a lone surrogate does not encode
                continue
    return sorted((f for f in found if f), key=lambda form: (-len(form), form))


def hide_password(message: str, url: str) -> str:
    """Mask the URL's password in every form wherever a message may still carry it."""
    for form in password_forms(url):
        if len(form) >= MIN_HIDDEN:
            message = message.replace(form, MASK)
    return message
