"""Where the load tools find the gateway and its keys: the run state, `recgpt-stack exec`'s environment, or a
keys file of their own for a gateway they start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth.keys import CALLER_SCOPES, Scope, load_file, split_presented
from loadtest import gateway_access
from loadtest.gateway_access import ClientSettings, GatewayAccess, NoInternalUrl
from recgpt_tools import stack_auth
from recgpt_tools.run_state import RunState, RunStateError

PUBLIC = "http://127.0.0.1:8080"
INTERNAL = "http://127.0.0.1:8081"


def _state(tmp_path: Path, keys_file: Path | None) -> RunState:
    return RunState(
        redis_url="redis://127.0.0.1:6379/0",
        redis_prefix="recgpt",
        catalogue_dir=tmp_path / "catalogue",
        urls={"gateway": PUBLIC, "gateway-internal": INTERNAL},
        targets={"retrieval": "127.0.0.1:50051"},
        metrics_urls={},
        keys_file=keys_file,
    )


def _dev_keys(tmp_path: Path) -> tuple[stack_auth.DevKeys, Path]:
    path = tmp_path / "auth" / stack_auth.DEV_KEYS_FILE
    return stack_auth.load_or_create_keys(path), path


def test_the_run_state_gives_the_keys_up_made_and_the_operators_listener(tmp_path: Path) -> None:
    keys, path = _dev_keys(tmp_path)

    access = gateway_access.from_state(_state(tmp_path, path))

    assert (access.url, access.internal_url) == (PUBLIC, INTERNAL)
    assert access.headers == {"authorization": f"Bearer {keys.dev.presented}"}
    assert access.admin_headers == {"authorization": f"Bearer {keys.admin.presented}"}


def test_exec_gives_the_same_access_as_the_run_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, path = _dev_keys(tmp_path)
    state = _state(tmp_path, path)
    for name, value in state.client_env().items():
        monkeypatch.setenv(name, value)

    assert ClientSettings().access() == gateway_access.from_state(state)
    # A --gateway flag names another callers' listener; the keys stay.
    assert ClientSettings().access("http://elsewhere:9000/").url == "http://elsewhere:9000"


def test_a_platform_that_checks_no_keys_is_called_without_one(tmp_path: Path) -> None:
    access = gateway_access.from_state(_state(tmp_path, None))

    assert access.headers == {} and access.admin_headers == {}


def test_a_missing_keys_file_is_a_run_state_error(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="recgpt-stack up"):
        gateway_access.from_state(_state(tmp_path, tmp_path / "auth" / "absent.json"))


def test_admin_calls_without_the_operators_address_say_where_it_comes_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("RECGPT_GATEWAY_URL", "RECGPT_GATEWAY_INTERNAL_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(NoInternalUrl, match="RECGPT_GATEWAY_INTERNAL_URL"):
        GatewayAccess(url=PUBLIC).operators_url()
    with pytest.raises(ValueError, match="recgpt-stack exec"):
        ClientSettings().access()


def test_a_tools_own_keys_file_holds_hashes_of_a_callers_key_and_an_admin_key(tmp_path: Path) -> None:
    own = gateway_access.write_own_keys(tmp_path / "keys.json", rate_per_s=50, burst=50)

    stored = load_file(own.file)
    assert own.api_key not in own.file.read_text() and own.admin_key not in own.file.read_text()
    by_presented = {}
    for presented in (own.api_key, own.admin_key):
        split = split_presented(presented)
        assert split is not None
        key_id, secret = split
        assert stored[key_id].matches(secret)
        by_presented[presented] = stored[key_id]
    assert by_presented[own.api_key].scopes == CALLER_SCOPES
    assert by_presented[own.api_key].rate_per_s == 50
    assert by_presented[own.admin_key].scopes == frozenset(Scope)
    unlimited = load_file(gateway_access.write_own_keys(tmp_path / "unlimited.json").file)
    assert {key.rate_per_s for key in unlimited.values()} >= {gateway_access.UNLIMITED_RATE_PER_S}
