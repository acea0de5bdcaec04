"""Where to write back to (a Telegram chat id, a WhatsApp phone number), kept encrypted while a reply waits.

The outbox needs the address to deliver a reply after a restart; it is stored only as a Fernet token
(AES-128-CBC with HMAC-SHA256, from `cryptography`) and deleted with the reply once delivered. The key is
derived from the pseudonym key, so no second secret has to be kept (and a new pseudonym key makes the waiting
addresses unreadable, as it makes the pseudonyms); it is never logged.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["AddressCipher", "UnreadableAddress"]


class UnreadableAddress(Exception):
    """A stored address that this key cannot decrypt (another key, or a damaged row)."""


class AddressCipher:
    """Encrypts and decrypts addresses with a key derived from `secret`."""

    def __init__(self, secret: bytes) -> None:
        derived = hmac.new(secret, b"ruta-outbox-address", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._encrypted = functools.lru_cache(maxsize=10_000)(self._encrypt)

    def encrypt(self, address: str) -> str:
        """A token for the address (the same token for the same address while it is remembered: encrypting costs
        more than a whole turn's dialogue)."""
        return self._encrypted(address)

    def _encrypt(self, address: str) -> str:
        return self._fernet.encrypt(address.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise UnreadableAddress("the stored address cannot be decrypted with this key") from None
