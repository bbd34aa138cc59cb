"""Per-client rate limits on exports, so that one script in a loop cannot take the server from
everyone else. The live pages are not limited: dive operators must always get their answer.

Each app gets its own Flask-Limiter, keyed by the client's address, with the limits and the
counter storage of its ``ExportSettings``: exports at ``rate_limit``, estimates at the looser
``estimate_rate_limit``. Over a limit the answer is a 429 in the API's error form, with a
``Retry-After`` header and a message that says when to try again. Behind a reverse proxy the
client address is the proxy's unless the proxy's ``X-Forwarded-For`` is trusted (werkzeug's
``ProxyFix``), in which case every client shares one counter.
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, Flask, Response, jsonify
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from dashboard.export.settings import ExportSettings

LIMITER = "nemopi.export.limiter"


def init_limits(app: Flask, settings: ExportSettings, limits: dict[Blueprint, str]) -> Limiter:
    """Limit each blueprint of ``limits`` to its rate, per client address."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage_uri,
        on_breach=_too_many_requests,
        key_prefix="nemopi",
    )
    for blueprint, rate in limits.items():
        limiter.limit(rate)(blueprint)
    app.extensions[LIMITER] = limiter
    return limiter


def _too_many_requests(limit: RequestLimit) -> Response:
    # reset_at is rounded up to a whole second: never say more than the limit's window.
    wait_s = min(max(1, math.ceil(limit.reset_at - time.time())), limit.limit.get_expiry())
    response = jsonify(
        error="too_many_requests",
        message=(
            f"more than {limit.limit} from this address: retry in {wait_s} s "
            "(the Retry-After header says the same)"
        ),
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(wait_s)
    return response
