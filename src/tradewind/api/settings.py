"""The API server's settings, read once when the app is built (config reads a file)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiSettings:
    secret_key: str | None = None
    access_token_expiration: int = 3600
    max_body_bytes: int = 1024 * 1024
    fallback_page_limit: int = 50
    maximum_page_limit: int = 100
    failed_login_limit: int = 5
    failed_login_window: float = 60.0
    expose_config: bool = True

    @classmethod
    def from_config(cls) -> ApiSettings:
        from tradewind import config

        def flag(value: object) -> bool:
            return str(value).strip().lower() in ("1", "true", "yes", "on")

        return cls(
            secret_key=config.get("api", "secret_key") or None,
            access_token_expiration=int(config.get("api", "access_token_expiration")),
            max_body_bytes=int(config.get("api", "max_body_bytes")),
            fallback_page_limit=int(config.get("api", "fallback_page_limit")),
            maximum_page_limit=int(config.get("api", "maximum_page_limit")),
            failed_login_limit=int(config.get("api", "failed_login_limit")),
            failed_login_window=float(config.get("api", "failed_login_window")),
            expose_config=flag(config.get("api", "expose_config")),
        )
