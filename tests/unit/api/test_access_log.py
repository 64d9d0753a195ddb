"""The API's access log never carries a query string (the OAuth callback's `code` lives there)."""

from __future__ import annotations

import logging
import logging.config

from api.__main__ import log_config


def test_access_log_lines_drop_query_strings(capsys):
    logging.config.dictConfig(log_config())
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/auth/callback?state=s&code=4/0Secret", "1.1", 302
    )
    out = capsys.readouterr()
    line = out.out + out.err
    assert "/auth/callback" in line
    assert "4/0Secret" not in line and "state=s" not in line
