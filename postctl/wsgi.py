"""The WSGI entry point for uWSGI: `--module postctl.wsgi:app`."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from postctl.web import create_app


def threads(options: Mapping[str, object]) -> int | None:
    """Return the thread count in uWSGI's options (uwsgi.opt), None if not set."""
    value = options.get("threads")
    if isinstance(value, list):  # an option given twice: uWSGI uses the last
        value = value[-1]
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        count = int(str(value))
    except ValueError:
        return None
    return count if count > 0 else None


# uWSGI puts its `uwsgi` module in sys.modules before it loads the app; it is not on PyPI.
_uwsgi = sys.modules.get("uwsgi")
# One pooled connection per worker thread, so that no request opens its own.
app = create_app(pool_size=threads(getattr(_uwsgi, "opt", {})))
