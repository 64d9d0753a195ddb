"""HTML for the consent page and Google-style error pages.

Plain strings with every value escaped: the pages are small, and stable element ids
(`#allow`, `#deny`, `input[name=account]`) let browser tests and scripts drive them.
"""

from __future__ import annotations

from html import escape

from .models import Account

SCOPE_TEXT = {
    "openid": "Associate you with your personal info on Google",
    "https://www.googleapis.com/auth/userinfo.email": "See your primary Google Account email address",
    "https://www.googleapis.com/auth/userinfo.profile": (
        "See your personal info, including any personal info you've made publicly available"
    ),
    "https://www.googleapis.com/auth/drive.metadata.readonly": ("See information about your Google Drive files"),
    "https://www.googleapis.com/auth/drive.readonly": "See and download all your Google Drive files",
    "https://www.googleapis.com/auth/drive": ("See, edit, create, and delete all of your Google Drive files"),
    "https://www.googleapis.com/auth/admin.reports.usage.readonly": (
        "View usage reports for your Google Workspace domain"
    ),
}

_STYLE = """
body{font-family:Roboto,Arial,sans-serif;background:#f0f4f9;margin:0;color:#1f1f1f}
main{max-width:560px;margin:48px auto;background:#fff;border-radius:28px;padding:36px 40px}
h1{font-size:24px;font-weight:400;margin:8px 0 4px}
.logo{font-size:22px;font-weight:500;letter-spacing:-.5px}
.logo span:nth-child(1){color:#4285f4}.logo span:nth-child(2){color:#ea4335}
.logo span:nth-child(3){color:#fbbc05}.logo span:nth-child(4){color:#4285f4}
.logo span:nth-child(5){color:#34a853}.logo span:nth-child(6){color:#ea4335}
.muted{color:#444746;font-size:14px}
ul.accounts{list-style:none;padding:0}
ul.accounts li{border:1px solid #c4c7c5;border-radius:12px;margin:8px 0;padding:10px 14px}
ul.scopes li{margin:6px 0;font-size:14px}
.buttons{display:flex;justify-content:flex-end;gap:12px;margin-top:24px}
button{border-radius:20px;padding:10px 24px;font-size:14px;border:1px solid #747775;background:#fff;cursor:pointer}
button#allow{background:#0b57d0;color:#fff;border-color:#0b57d0}
code{background:#f0f4f9;padding:2px 4px;border-radius:4px;word-break:break-all}
.banner{background:#fff8e1;border-radius:8px;padding:6px 10px;font-size:12px;color:#5f4b00}
"""

_LOGO = '<div class="logo"><span>G</span><span>o</span><span>o</span><span>g</span><span>l</span><span>e</span></div>'


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main>{_LOGO}"
        '<p class="banner">Local Google emulator - no real Google account is involved.</p>'
        f"{body}</main></body></html>"
    )


def error_page(code: str, message: str, details: str = "") -> str:
    """Google's "Access blocked" page: the heading carries `Error <n>: <error>`."""
    body = (
        f"<h1>Access blocked: This app's request is invalid</h1>"
        f'<p class="muted" id="error-code"><b>{escape(code)}</b></p>'
        f'<p id="error-message">{escape(message)}</p>'
    )
    if details:
        body += f'<p class="muted">Request details: <code id="error-details">{escape(details)}</code></p>'
    return _page(code, body)


def consent_page(
    *,
    request_id: str,
    client_name: str,
    accounts: list[Account],
    selected: str | None,
    scopes: list[str],
    decision_url: str,
) -> str:
    items = []
    for index, account in enumerate(accounts):
        checked = " checked" if account.email == selected or (selected is None and index == 0) else ""
        kind = f"Workspace ({account.domain})" if account.domain else "Personal account"
        items.append(
            f'<li><label><input type="radio" name="account" id="account-{index}" '
            f'value="{escape(account.email)}"{checked}> <b>{escape(account.name)}</b> '
            f'<span class="muted">{escape(account.email)} - {escape(kind)}</span></label></li>'
        )
    scope_items = "".join(f'<li data-scope="{escape(s)}">{escape(SCOPE_TEXT.get(s, s))}</li>' for s in scopes)
    no_accounts = '<p id="no-accounts">No accounts exist in the emulator yet.</p>' if not accounts else ""
    body = (
        f"<h1>Sign in to {escape(client_name)}</h1>"
        f'<p class="muted">Choose an account, then review what <b>{escape(client_name)}</b> wants to do.</p>'
        f'<form method="post" action="{escape(decision_url)}" id="consent">'
        f'<input type="hidden" name="request_id" value="{escape(request_id)}">'
        f'<ul class="accounts">{"".join(items)}</ul>{no_accounts}'
        '<p class="muted"><label>Or use another account: <input type="email" name="new_account" '
        'id="new-account" placeholder="someone@example.com"></label></p>'
        f"<p>{escape(client_name)} wants access to your Google Account:</p>"
        f'<ul class="scopes">{scope_items}</ul>'
        '<div class="buttons">'
        '<button type="submit" name="decision" value="deny" id="deny">Cancel</button>'
        '<button type="submit" name="decision" value="allow" id="allow">Allow</button>'
        "</div></form>"
    )
    return _page(f"Sign in - {client_name}", body)
