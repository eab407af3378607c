"""The one check every response of the attack suite passes: no server error, and nothing
of the machinery behind the answer (stack traces, file paths, database drivers, exception
class names) in its body or its headers.

``SafeClient`` runs the check on every response the suite's test client receives
(``tests/attacks/conftest.py`` installs it), so no test can forget it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from flask.testing import FlaskClient

# What a stack trace, an ORM error or a driver error would put in a body. Case-sensitive
# markers first, then module names, which are looked for in any case.
TRACE_MARKERS = ("Traceback", 'File "', '", line ')
MODULE_MARKERS = ("sqlalchemy", "psycopg", "sqlite3", "site-packages")
# A Python exception class name is CamelCase with at least two humps ("KeyError",
# "InvalidToken", "IntegrityError") or ends in Error/Exception/Warning; one-word names
# ("Unauthorized", "Conflict") are HTTP reason phrases as well and would only give noise.
_EXCEPTION_NAME = re.compile(r"(?:[A-Z][a-z0-9]*){2,}|\w+(?:Error|Exception|Warning)")


@functools.cache
def exception_names() -> re.Pattern[str]:
    """Every exception class loaded in this process (Python's, the libraries', the service's)."""
    seen: set[type[BaseException]] = set()
    stack: list[type[BaseException]] = [BaseException]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    names = {cls.__name__ for cls in seen if _EXCEPTION_NAME.fullmatch(cls.__name__)}
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b")


def leaks(text: str) -> list[str]:
    """What in ``text`` betrays the machinery behind an answer (empty: nothing)."""
    found = [marker for marker in TRACE_MARKERS if marker in text]
    lowered = text.lower()
    found += [marker for marker in MODULE_MARKERS if marker in lowered]
    found += sorted(set(exception_names().findall(text)))
    return found


def assert_safe(response: Any) -> None:
    """No 5xx, no stack trace, driver name or exception class in the body or a header, and
    (SPEC §4) a challenge on every 401."""
    request = getattr(response, "request", None)
    where = f"{request.method} {request.path}" if request is not None else "response"
    body = response.get_data(as_text=True)
    assert response.status_code < 500, f"{where} answered {response.status_code}: {body[:500]}"
    if response.status_code == 401:
        assert response.headers.get("WWW-Authenticate"), f"{where}: a 401 without a WWW-Authenticate challenge"
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    found = leaks(body) + leaks(headers)
    assert not found, f"{where} ({response.status_code}) leaks {found}: {body[:500]!r} {headers[:500]!r}"


class SafeClient(FlaskClient):
    """Flask's test client, checking every response with :func:`assert_safe`."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        assert_safe(response)
        return response
