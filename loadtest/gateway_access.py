"""How a load tool reaches the gateway: the callers' and the operators' roots, and the keys it presents.

Three ways in, one record (`GatewayAccess`): the run state of `make run` (`--stack var/run/stack.json`: the
keys from the file it names), the environment `recgpt-stack exec` hands a command (`ClientSettings`), or a
gateway the tool starts itself with a keys file of its own (`write_own_keys`). Admin and report calls go to
the operators' listener, every other call to the callers' one; a key left empty sends no header (a platform
started with RECGPT_AUTH=off).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.auth.keys import CALLER_SCOPES, Scope, new_key, write_file
from recgpt_tools import stack_auth
from recgpt_tools.run_state import RunState, RunStateError

# The limits of a key a tool makes for a gateway of its own: the most a key may have, so that a benchmark
# measures the gateway, not the rate limiter, unless it asks for a limit.
UNLIMITED_RATE_PER_S = 1_000_000.0
UNLIMITED_BURST = 1_000_000


def bearer(key: str) -> dict[str, str]:
    """The Authorization header presenting `key`; none for an empty key."""
    return {"authorization": f"Bearer {key}"} if key else {}


class NoInternalUrl(RuntimeError):
    """An admin or report call without the operators' address; the message says where it comes from."""


@dataclass(frozen=True)
class GatewayAccess:
    # The callers' root (RECGPT_PORT) and the operators' (RECGPT_INTERNAL_PORT: admin API, reports, metrics).
    url: str
    internal_url: str = ""
    # The development key (every scope but admin) and the admin key; "": send no key.
    api_key: str = ""
    admin_key: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.api_key)

    @property
    def admin_headers(self) -> dict[str, str]:
        return bearer(self.admin_key)

    def operators_url(self) -> str:
        if not self.internal_url:
            raise NoInternalUrl(
                "the gateway's operators' address is unknown: give RECGPT_GATEWAY_INTERNAL_URL "
                "(recgpt-stack exec sets it) or a run state that names gateway-internal"
            )
        return self.internal_url


def from_state(state: RunState) -> GatewayAccess:
    """The running platform's gateway and the keys `recgpt-stack up` made (none when it checks no keys)."""
    api_key = admin_key = ""
    if state.keys_file is not None:
        try:
            keys = stack_auth.load_keys(state.keys_file)
        except stack_auth.AuthError as error:
            raise RunStateError(str(error)) from None
        api_key, admin_key = keys.dev.presented, keys.admin.presented
    return GatewayAccess(
        url=state.gateway_url,
        internal_url=state.urls.get("gateway-internal", ""),
        api_key=api_key,
        admin_key=admin_key,
    )


class ClientSettings(BaseSettings):
    """What `recgpt-stack exec` hands a client of the running platform (`RunState.client_env`)."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_", extra="ignore", frozen=True)

    gateway_url: str = ""
    gateway_internal_url: str = ""
    api_key: SecretStr = SecretStr("")
    admin_key: SecretStr = SecretStr("")

    def access(self, gateway_url: str | None = None) -> GatewayAccess:
        """The access these settings give; `gateway_url` (a command-line flag) wins over the environment's."""
        url = gateway_url or self.gateway_url
        if not url:
            raise ValueError("no gateway: give --gateway, or run it by `recgpt-stack exec -- ...`")
        return GatewayAccess(
            url=url.rstrip("/"),
            internal_url=self.gateway_internal_url.rstrip("/"),
            api_key=self.api_key.get_secret_value(),
            admin_key=self.admin_key.get_secret_value(),
        )


@dataclass(frozen=True)
class OwnKeys:
    """A keys file for a gateway a tool starts (RECGPT_API_KEYS_FILE), and the keys it accepts."""

    file: Path
    api_key: str
    admin_key: str


def write_own_keys(
    path: Path, *, rate_per_s: float = UNLIMITED_RATE_PER_S, burst: int = UNLIMITED_BURST
) -> OwnKeys:
    """Writes a caller's key (every scope but admin, limited as given) and an admin key to `path`; the file
    holds their hashes only, the presented keys stay in this process."""
    caller, api_key = new_key("bench", CALLER_SCOPES, rate_per_s=rate_per_s, burst=burst)
    admin, admin_key = new_key("bench-admin", frozenset(Scope))
    write_file(path, [caller, admin])
    return OwnKeys(path, api_key, admin_key)
