"""Who may call what: API keys and scopes, revocation across replicas, end-user tokens, rate limits.

Every refusal is a clear 4xx with the reason, stores nothing, and is counted in recgpt_gateway_rejected_total.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from prometheus_client import REGISTRY
from pydantic import SecretStr

from experiments.events import iter_events
from gateway.app import create_app
from gateway.auth.keys import CALLER_SCOPES, KeyStore, Scope, new_key
from gateway.settings import GatewaySettings
from recgpt_domain.preferences import PreferenceStore
from tests.gateway.callers import INTERNAL, keyed_client
from tests.polling import until

SECRET = "shop-signing-secret-of-enough-length-32b"
AUDIENCE = "recgpt-gateway"
ISSUER = "https://shop.example/auth"


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("recgpt_gateway_rejected_total", {"reason": reason}) or 0.0


def token(sub: str, *, key: Any = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 300, **claims}
    headers = {"kid": claims.pop("kid")} if "kid" in claims else None
    body.pop("kid", None)
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


@pytest.fixture
def token_settings(settings: GatewaySettings) -> GatewaySettings:
    return settings.model_copy(
        update={
            "user_token_secret": SecretStr(SECRET),
            "user_token_issuer": ISSUER,
            "api_keys_refresh_s": 0.2,
        }
    )


@pytest.fixture
async def store(redis_client: aioredis.Redis, redis_prefix: str) -> KeyStore:
    return KeyStore(redis_client, redis_prefix)


@pytest.fixture
async def started(token_settings: GatewaySettings) -> Any:
    """Starts gateways (replicas) on the same Redis; each is closed at the end."""
    lifespans: list[Any] = []

    async def start(**overrides: Any) -> Any:
        app = create_app(token_settings.model_copy(update=overrides))
        lifespan = app.lifespan()
        await lifespan.__aenter__()
        lifespans.append(lifespan)
        return app

    yield start
    for lifespan in reversed(lifespans):
        await lifespan.__aexit__(None, None, None)


async def add_key(store: KeyStore, scopes: frozenset[Scope], **options: Any) -> str:
    record, presented = new_key(f"k-{uuid.uuid4().hex[:6]}", scopes, **options)
    await store.add(record)
    return presented


def recommend(user: str = "erin") -> dict[str, Any]:
    return {"user_id": user, "n": 2}


def click(user: str) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "type": "click", "user_id": user, "item_id": "item-1"}


async def stored_events(client: aioredis.Redis, prefix: str) -> list[Any]:
    return [event async for event in iter_events(client, prefix)]


async def test_without_a_valid_key_nothing_is_served_or_stored(
    started: Callable[..., Any], store: KeyStore, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    app = await started()
    good = await add_key(store, frozenset(Scope))
    key_id = good.split("_")[1]
    before = {r: rejected(r) for r in ("missing_key", "malformed_key", "unknown_key")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        batch = {"events": [click("erin")]}
        missing = await client.post("/v1/events", json=batch)
        basic = await client.post("/v1/events", json=batch, headers={"authorization": "Basic abc"})
        malformed = await client.post("/v1/events", json=batch, headers={"authorization": "Bearer nope"})
        forged = await client.post(
            "/v1/events", json=batch, headers={"authorization": f"Bearer rgk_{key_id}_not-the-secret"}
        )
        health = await client.get("/readyz")

    for answer in (missing, basic, malformed, forged):
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["reason"] and answer.json()["request_id"]
    assert "Authorization: Bearer" in missing.json()["reason"]
    assert forged.json()["reason"] == "unknown API key"
    assert health.status_code == 200
    assert await stored_events(redis_client, redis_prefix) == []
    assert rejected("missing_key") == before["missing_key"] + 2
    assert rejected("malformed_key") == before["malformed_key"] + 1
    assert rejected("unknown_key") == before["unknown_key"] + 1


async def test_a_key_serves_only_its_scopes(
    started: Callable[..., Any],
    store: KeyStore,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    app = await started()
    recommender = await add_key(store, frozenset({Scope.RECOMMEND}))
    await app.state.authenticator.keys.refresh()
    before = rejected("wrong_scope")
    async with keyed_client(app, recommender) as client:
        page = await client.post("/v1/recommend", json=recommend())
        events = await client.post("/v1/events", json={"events": [click("erin")]})
        command = await client.post("/v1/feed/command", json={"user_id": "erin", "text": "no Pyrex"})
        report = await client.get(INTERNAL + "/v1/experiments/exp-a/report")
        admin = await client.get(INTERNAL + "/v1/admin/keys")

    assert page.status_code == 200, page.text
    for answer, scope in (
        (events, "events:write"),
        (command, "feed"),
        (report, "reports:read"),
        (admin, "admin"),
    ):
        assert answer.status_code == 403, answer.text
        assert f"lacks the '{scope}' scope" in answer.json()["reason"]
    assert rejected("wrong_scope") == before + 4
    assert await stored_events(redis_client, redis_prefix) == []
    assert (await PreferenceStore(redis_client, redis_prefix).read("erin")).version == 0


async def test_a_revoked_key_is_refused_by_every_replica_within_5_s(
    started: Callable[..., Any], store: KeyStore
) -> None:
    first, second = await started(), await started()
    presented = await add_key(store, CALLER_SCOPES)
    for app in (first, second):
        await app.state.authenticator.keys.refresh()
        async with keyed_client(app, presented) as client:
            assert (await client.post("/v1/recommend", json=recommend())).status_code == 200

    admin = await add_key(store, frozenset({Scope.ADMIN}))
    await first.state.authenticator.keys.refresh()
    async with keyed_client(first, admin) as operator:
        revoked = await operator.delete(INTERNAL + f"/v1/admin/keys/{presented.split('_')[1]}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    began = time.monotonic()

    async def refused_everywhere() -> bool:
        codes = []
        for app in (first, second):
            async with keyed_client(app, presented) as client:
                codes.append((await client.post("/v1/recommend", json=recommend())).status_code)
        return codes == [401, 401]

    await until(refused_everywhere, timeout_s=5.0)
    assert time.monotonic() - began < 5.0
    async with keyed_client(second, presented) as client:
        answer = await client.post("/v1/recommend", json=recommend())
    assert answer.json()["reason"] == "this API key was revoked"


async def test_the_admin_api_makes_lists_and_revokes_keys(
    started: Callable[..., Any], store: KeyStore
) -> None:
    app = await started()
    admin = await add_key(store, frozenset({Scope.ADMIN}))
    await app.state.authenticator.keys.refresh()
    async with keyed_client(app, admin) as operator:
        made = await operator.post(
            INTERNAL + "/v1/admin/keys",
            json={"name": "shop-backend", "scopes": ["recommend", "events:write"]},
        )
        bad = await operator.post(INTERNAL + "/v1/admin/keys", json={"name": "x", "scopes": ["everything"]})
        listed = await operator.get(INTERNAL + "/v1/admin/keys")
        unknown = await operator.delete(INTERNAL + "/v1/admin/keys/0123456789abcdef")

    assert made.status_code == 201, made.text
    assert made.json()["key"].startswith("rgk_") and made.json()["scopes"] == ["events:write", "recommend"]
    assert bad.status_code == 422
    assert unknown.status_code == 404
    assert "shop-backend" in {k["name"] for k in listed.json()["keys"]}
    assert "secret" not in listed.text and made.json()["key"].split("_", 2)[2] not in listed.text
    await app.state.authenticator.keys.refresh()
    async with keyed_client(app, made.json()["key"]) as caller:
        assert (await caller.post("/v1/recommend", json=recommend())).status_code == 200


async def test_a_user_token_must_name_the_requests_user(
    started: Callable[..., Any], store: KeyStore, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    app = await started()
    browser = await add_key(store, CALLER_SCOPES, user_tokens="required")
    backend = await add_key(store, CALLER_SCOPES)
    await app.state.authenticator.keys.refresh()
    before = {r: rejected(r) for r in ("user_token_missing", "user_mismatch")}
    async with keyed_client(app, browser) as client:
        own = await client.post(
            "/v1/recommend", json=recommend("ada"), headers={"x-user-token": token("ada")}
        )
        without = await client.post("/v1/recommend", json=recommend("ada"))
        other = await client.post(
            "/v1/recommend", json=recommend("bob"), headers={"x-user-token": token("ada")}
        )
        others_events = await client.post(
            "/v1/events",
            json={"events": [click("ada"), click("bob")]},
            headers={"x-user-token": token("ada")},
        )
        erase = await client.delete(
            "/v1/feed/preferences", params={"user_id": "bob"}, headers={"x-user-token": token("ada")}
        )
    async with keyed_client(app, backend) as trusted:
        for_anyone = await trusted.post("/v1/recommend", json=recommend("bob"))
        # A backend key that sends a token is held to it too.
        mismatched = await trusted.post(
            "/v1/recommend", json=recommend("bob"), headers={"x-user-token": token("ada")}
        )

    assert own.status_code == 200, own.text
    assert without.status_code == 401 and "X-User-Token" in without.json()["reason"]
    for answer in (other, others_events, erase, mismatched):
        assert answer.status_code == 403, answer.text
        assert "another user" in answer.json()["reason"]
    assert for_anyone.status_code == 200
    assert await stored_events(redis_client, redis_prefix) == []
    assert rejected("user_token_missing") == before["user_token_missing"] + 1
    assert rejected("user_mismatch") == before["user_mismatch"] + 4


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    """The shop's public keys, served as a JWKS document over HTTP."""
    keys = []
    for kid, private in (("rsa-1", rsa_key), ("ec-1", ec_key)):
        algorithm = jwt.get_algorithm_by_name("RS256" if kid == "rsa-1" else "ES256")
        jwk = json.loads(algorithm.to_jwk(private.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig"})
    body = json.dumps({"keys": keys}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()


async def test_bad_user_tokens_are_refused_with_the_reason(
    started: Callable[..., Any],
    store: KeyStore,
    jwks_url: str,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    app = await started(user_token_jwks_url=jwks_url)
    browser = await add_key(store, CALLER_SCOPES, user_tokens="required")
    await app.state.authenticator.keys.refresh()
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    unsigned = jwt.encode(
        {"sub": "ada", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}, "", algorithm="none"
    )
    cases = {
        "rs256": (token("ada", key=rsa_key, algorithm="RS256", kid="rsa-1"), 200, ""),
        "es256": (token("ada", key=ec_key, algorithm="ES256", kid="ec-1"), 200, ""),
        "hs256": (token("ada"), 200, ""),
        "expired": (token("ada", exp=int(time.time()) - 120), 401, "expired"),
        "within skew": (token("ada", exp=int(time.time()) - 5), 200, ""),
        "audience": (token("ada", aud="another-service"), 401, "another audience"),
        "issuer": (token("ada", iss="https://evil.example"), 401, "another issuer"),
        "signature": (token("ada", key="a-different-secret-of-32-bytes-len"), 401, "signature"),
        "alg none": (unsigned, 401, "'none' is not accepted"),
        # HS/RS confusion: the public key used as an HMAC secret.
        "confusion": (_confused(public_pem), 401, "signature"),
        "unknown kid": (token("ada", key=rsa_key, algorithm="RS256", kid="rsa-9"), 401, "unknown key"),
        "no exp": (
            jwt.encode({"sub": "ada", "aud": AUDIENCE, "iss": ISSUER}, SECRET, algorithm="HS256"),
            401,
            "exp",
        ),
        "not a jwt": ("garbage", 401, "not a JWT"),
        "huge": ("a" * 20_000, 401, "too long"),
    }
    async with keyed_client(app, browser) as client:
        for name, (presented, status, fragment) in cases.items():
            answer = await client.post(
                "/v1/recommend", json=recommend("ada"), headers={"x-user-token": presented}
            )
            assert answer.status_code == status, (name, answer.text)
            assert fragment in answer.json().get("reason", ""), (name, answer.text)


def _confused(public_pem: bytes) -> str:
    """HS256 signed with the RSA public key's PEM as the secret (PyJWT refuses to make one: built by hand)."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    claims = {"sub": "ada", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


async def test_one_key_flooding_gets_429s_and_others_are_served(
    started: Callable[..., Any], store: KeyStore
) -> None:
    app = await started()
    flooder = await add_key(store, CALLER_SCOPES, rate_per_s=20.0, burst=20)
    neighbour = await add_key(store, CALLER_SCOPES)
    await app.state.authenticator.keys.refresh()
    before = rejected("rate_limited")
    async with keyed_client(app, flooder) as flood, keyed_client(app, neighbour) as calm:
        flooded = await asyncio.gather(*(flood.post("/v1/recommend", json=recommend()) for _ in range(400)))
        served = await asyncio.gather(*(calm.post("/v1/recommend", json=recommend()) for _ in range(20)))

    limited = [a for a in flooded if a.status_code == 429]
    assert len(limited) >= 300, len(limited)
    assert {a.status_code for a in flooded} <= {200, 429}
    assert all(int(a.headers["retry-after"]) >= 1 for a in limited)
    assert "rate limit" in limited[0].json()["reason"]
    assert [a.status_code for a in served] == [200] * 20
    assert rejected("rate_limited") == before + len(limited)


async def test_auth_off_lets_everyone_in_and_says_so(
    started: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    app = await started(auth="off")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        answer = await client.post("/v1/recommend", json=recommend())
    assert answer.status_code == 200
    assert "RECGPT_AUTH=off" in caplog.text


async def test_keys_from_a_file_serve_while_redis_is_away(
    gateway_factory: Callable[..., Any], deps_without_redis: Any
) -> None:
    """The conftest's key is also in the keys file: the gateway without Redis still knows its callers."""
    client: httpx.AsyncClient = await gateway_factory(deps_without_redis)
    assert (await client.post("/v1/recommend", json=recommend())).status_code == 200
    unknown = await client.post(
        "/v1/recommend", json=recommend(), headers={"authorization": "Bearer rgk_0123456789abcdef_x"}
    )
    # Not in the file, and the store cannot be read: it may be a good key, so "retry", not "unknown".
    assert unknown.status_code == 503 and "key store" in unknown.json()["reason"]
    assert unknown.headers["retry-after"] == "1"
