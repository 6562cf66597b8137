"""Error messages of the REST API that its OpenAPI document shows as examples too."""
from __future__ import annotations

INVALID_KEY = "Invalid API key. It may have been deleted; create a new one in Settings → API Keys."
TOO_MANY_FAILURES = "Too many failed authentication attempts from your address. Wait and try again."
PLAN_REQUIRED = ("The REST API requires a Pro plan or higher. This account is on the Free plan: ask your "
                 "administrator to upgrade it. (Free API keys still work with the Zapier endpoints.)")
