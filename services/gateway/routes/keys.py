"""The admin API for API keys: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from gateway.auth.keys import KeyId, KeyStore, Scope, UnknownKey, UserTokens, new_key
from gateway.schemas import ErrorResponse

router = APIRouter(tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "Keys are given by file here: change the file"},
    503: {"model": ErrorResponse, "description": "Key store unavailable: nothing changed; retry"},
}


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    rate_per_s: Annotated[float, Field(gt=0, le=1_000_000)] = 100.0
    burst: Annotated[int, Field(ge=1, le=1_000_000)] = 200
    user_tokens: UserTokens = "trusted"


class KeyOut(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    rate_per_s: float
    burst: int
    user_tokens: UserTokens
    created_at: float
    revoked_at: float | None


class CreatedKey(KeyOut):
    # The key to present (Authorization: Bearer <key>): shown this once, kept nowhere.
    key: str


def _store(request: Request) -> KeyStore:
    store: KeyStore | None = request.app.state.key_store
    if store is None:
        raise HTTPException(409, "API keys are given by file on this gateway (api_keys_in_redis is off)")
    return store


def _out(key: Any) -> dict[str, Any]:
    return {**key.public(), "scopes": sorted(key.scopes)}


@router.post("/v1/admin/keys", response_model=CreatedKey, status_code=201, responses=_ERRORS)
async def create_key(body: KeyRequest, request: Request) -> CreatedKey:
    key, presented = new_key(
        body.name,
        frozenset(body.scopes),
        rate_per_s=body.rate_per_s,
        burst=body.burst,
        user_tokens=body.user_tokens,
    )
    try:
        await _store(request).add(key)
    except (RedisError, TimeoutError, OSError) as error:
        raise HTTPException(503, "key store unavailable: no key was made; retry") from error
    return CreatedKey(**_out(key), key=presented)


@router.get("/v1/admin/keys", responses=_ERRORS)
async def list_keys(request: Request) -> dict[str, list[KeyOut]]:
    """Every key in the store, revoked ones included; never a secret or its hash."""
    try:
        stored = await _store(request).all()
    except (RedisError, TimeoutError, OSError) as error:
        raise HTTPException(503, "key store unavailable") from error
    keys = sorted(stored.values(), key=lambda k: k.created_at)
    return {"keys": [KeyOut(**_out(key)) for key in keys]}


@router.delete(
    "/v1/admin/keys/{key_id}", response_model=KeyOut, responses={**_ERRORS, 404: {"model": ErrorResponse}}
)
async def revoke_key(key_id: Annotated[KeyId, Path()], request: Request) -> KeyOut:
    """Revokes the key: every gateway refuses it within its poll interval (1 s by default)."""
    try:
        revoked = await _store(request).revoke(key_id)
    except UnknownKey as error:
        raise HTTPException(404, f"no key {key_id}") from error
    except (RedisError, TimeoutError, OSError) as error:
        raise HTTPException(503, "key store unavailable: the key is not revoked yet; retry") from error
    return KeyOut(**_out(revoked))
