"""``POST /auth/token``: a user name and password for a bearer token (Airflow 3's route)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from tradewind.api.schemas import StrictModel

public_router = APIRouter(tags=["Login"])


class LoginBody(StrictModel):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    access_token: str


@public_router.post("/auth/token", status_code=201)
def create_token(body: LoginBody, request: Request) -> LoginResponse:
    """Exchange a user name and password for a short-lived bearer token (``api.
    access_token_expiration`` seconds). Too many failed tries get 429 for a while."""
    auth = request.app.state.authenticator
    client = request.client.host if request.client else "unknown"
    principal = auth.login(body.username, body.password, client)
    return LoginResponse(access_token=auth.signer.issue(principal.username))
