"""Pseudonymous person keys: HMAC-SHA256 of the normalised email under a secret key."""

from __future__ import annotations

import hashlib
import hmac
import re

CONCEALED = re.compile(r"^[0-9A-Fa-f]{32}$")


def normalise_email(email: str) -> str:
    """Trimmed, lower-case email."""
    return email.strip().lower()


def is_concealed(principal: str) -> bool:
    """True for Microsoft 365's concealed names (32 hex characters instead of a UPN)."""
    return bool(CONCEALED.match(principal.strip()))


class Identity:
    """Turns emails (or account ids when no email is known) into stable person keys."""

    def __init__(self, key: bytes, pseudonymise: bool = True):
        self._key = key
        self.pseudonymise = pseudonymise

    def person_key(self, email: str) -> str:
        """The person key of an email address."""
        return self._digest(normalise_email(email))

    def account_key(self, platform: str, account_id: str) -> str:
        """The person key of an account whose email is unknown (kept apart from email keys)."""
        return self._digest(f"account:{platform}:{account_id}")

    def concealed_key(self, principal: str) -> str:
        """The person key of a concealed Graph principal (cannot be joined to HR data)."""
        return self._digest(f"concealed:{principal.strip().upper()}")

    def email_to_store(self, email: str) -> str | None:
        """The email as stored: None when pseudonymising."""
        return None if self.pseudonymise else normalise_email(email)

    def _digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()
