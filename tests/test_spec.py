"""BoxSpec: a recipe that crosses the wire instead of a key."""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import sealbox
from sealbox import BoxSpec, DataKeyCache, Keyring, Message

OLD, NEW = bytes(range(32)), bytes(range(32, 64))
RING = f"1:{base64.b64encode(OLD).decode()},2:{NEW.hex()}"


def key_forms(key: bytes) -> list[bytes]:
    """Every way a key could show up in pickled bytes."""
    return [
        key,
        key.hex().encode(),
        key.hex().upper().encode(),
        base64.b64encode(key),
        base64.urlsafe_b64encode(key),
        base64.b64encode(key).rstrip(b"="),
    ]


@pytest.fixture
def ring_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPEC_TEST_KEYS", RING)
    return "SPEC_TEST_KEYS"


def test_pickled_spec_holds_no_key_material(ring_env: str, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(RING)
    specs = [
        BoxSpec(keys_env=ring_env),
        BoxSpec(keys_file=keys_file, encoding="text"),
        BoxSpec(keys_env=ring_env, envelope=True, cache=DataKeyCache(max_messages=50)),
        BoxSpec(
            kek={
                "provider": "pkcs11",
                "module": "/lib/p11.so",
                "token_label": "t",
                "key_label": "k",
                "pin_env": "PIN",
            },
        ),
    ]
    for spec in specs:
        if spec._kek is None:
            spec.build()  # building reads the keys; the spec still holds only their names
        data = pickle.dumps(spec)
        for form in key_forms(OLD) + key_forms(NEW):
            assert form not in data, spec
        assert RING.encode() not in data
        assert pickle.loads(data) == spec
        assert all(form.decode() not in repr(spec) for form in key_forms(OLD) + key_forms(NEW))


def test_build_is_once_per_process_and_opens_what_a_plain_box_wrote(ring_env: str) -> None:
    spec = BoxSpec(keys_env=ring_env)
    box = spec.build()
    assert box is spec.build() is pickle.loads(pickle.dumps(spec)).build()
    assert box.active_key_id == 2 and box.key_ids == [1, 2]
    plain = sealbox.Box(Keyring.from_env(ring_env))
    message = plain.encrypt(b"alice", context=b"c")
    assert box.decrypt(message, context=b"c") == b"alice"
    assert plain.decrypt(box.encrypt(b"bob"), context=None) == b"bob"
    assert BoxSpec(keys_env=ring_env, active=1).build().active_key_id == 1
    text = BoxSpec(keys_env=ring_env, encoding="text", strict_encoding=True).build()
    assert isinstance(text.encrypt(b"x"), str) and text.strict_encoding
    det = BoxSpec(keys_env=ring_env, deterministic=True).build()
    assert det.encrypt(b"x") == det.encrypt(b"x")
    for suite in ("aes-256-gcm", "xchacha20-poly1305", "aes-256-siv"):
        siv = suite == "aes-256-siv"  # the deterministic suite
        built = BoxSpec(keys_env=ring_env, algorithm=suite, deterministic=siv).build()  # type: ignore[arg-type]
        direct = sealbox.Box(Keyring.from_env(ring_env), algorithm=suite, deterministic=siv)  # type: ignore[arg-type]
        assert built.algorithm == suite
        sealed = built.encrypt(b"carol", context=b"c")
        assert Message.parse(sealed).suite == suite
        assert direct.decrypt(sealed, context=b"c") == b"carol"


def test_boxes_and_keyrings_still_refuse_pickling(ring_env: str) -> None:
    box = BoxSpec(keys_env=ring_env).build()
    for obj in (box, Keyring.from_env(ring_env), BoxSpec(keys_env=ring_env, envelope=True).build()):
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(obj)


def test_keys_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sealbox-keys"
    path.write_text(RING + "\n")
    box = BoxSpec(keys_file=str(path)).build()
    assert box.key_ids == [1, 2]
    assert BoxSpec(keys_file=path) == BoxSpec(keys_file=str(path))


def test_missing_keys_name_the_variable_or_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SPEC_NOT_SET", raising=False)
    with pytest.raises(ValueError, match="environment variable SPEC_NOT_SET is not set on this worker"):
        BoxSpec(keys_env="SPEC_NOT_SET").build()
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=f"the file {missing} does not exist on this worker"):
        BoxSpec(keys_file=missing).build()
    bad = tmp_path / "bad"
    bad.write_text("not a keyring")
    with pytest.raises(ValueError, match=f"the file {bad} must hold 'id:key' entries") as info:
        BoxSpec(keys_file=bad).build()
    assert "not a keyring" not in str(info.value)
    monkeypatch.setenv("PIN_MISSING_FILE_TEST", "1")
    spec = BoxSpec(
        kek={
            "provider": "pkcs11",
            "module": "m",
            "token_label": "t",
            "key_label": "k",
            "pin_file": str(missing),
        }
    )
    with pytest.raises(ValueError, match=f"the file {missing} does not exist .* the token's PIN"):
        spec.build()


def test_envelope_spec_with_a_cache_policy(ring_env: str) -> None:
    spec = BoxSpec(
        keys_env=ring_env,
        envelope=True,
        cache=DataKeyCache(max_messages=3, max_age=60),
        encryption_context={"app": "test"},
    )
    box = spec.build()
    assert isinstance(box, sealbox.EnvelopeBox)
    cache = box.provider.cache
    assert cache is not None and (cache.max_messages, cache.max_age) == (3, 60.0)
    messages = box.encrypt_batch([b"a", b"b", b"c", b"d"])
    assert len({Message.parse(m).wrapped_key for m in messages}) == 2  # 3 per data key
    assert box.provider.encryption_context == {"app": "test"}
    assert BoxSpec(keys_env=ring_env, envelope=True, cache=True).build().provider.cache is not None


def test_custom_provider_with_the_local_ring_as_previous(
    ring_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPEC_KEK", base64.b64encode(bytes(32)).decode())
    log = tmp_path / "unwraps"
    spec = BoxSpec(
        kek={"provider": "tests.scaling_helpers:counting_kek", "log": str(log), "key_env": "SPEC_KEK"},
        keys_env=ring_env,
    )
    box = spec.build()
    old = BoxSpec(keys_env=ring_env, envelope=True).build().encrypt(b"moved", context=b"c")
    rotated = box.rotate_batch([old], [b"c"])
    assert Message.parse(rotated[0]).key_id == 7
    assert box.decrypt(rotated[0], context=b"c") == b"moved"
    assert log.read_text().count("\n") == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, TypeError, "needs its keys"),
        ({"keys_env": "A", "keys_file": "b"}, TypeError, "not both"),
        ({"keys_env": ""}, TypeError, "keys_env"),
        ({"keys_env": "A", "cache": True}, TypeError, "envelope Box's"),
        ({"keys_env": "A", "envelope": True, "deterministic": True}, ValueError, "do not apply"),
        ({"keys_env": "A", "encoding": "hex"}, ValueError, "encoding"),
        ({"keys_env": "A", "algorithm": "rot13"}, ValueError, "algorithm"),
        ({"keys_env": "A", "previous": [{"provider": "aws-kms", "key_id": "k"}]}, TypeError, "beside kek"),
        ({"kek": {"provider": "aws-kms", "key_id": "k"}, "active": 1}, TypeError, "active"),
        ({"kek": {"key_id": "k"}}, TypeError, "needs 'provider'"),
        ({"kek": {"provider": "gcp"}}, ValueError, "unknown provider 'gcp'"),
        ({"kek": {"provider": "aws-kms"}}, TypeError, "needs 'key_id'"),
        ({"kek": {"provider": "aws-kms", "key_id": "k", "regoin": "x"}}, TypeError, "not 'regoin'"),
        (
            {"kek": {"provider": "vault-transit", "key_name": "k", "url": "u", "token": "s3cr3t"}},
            TypeError,
            "carries no secrets",
        ),
        ({"kek": {"provider": "vault-transit", "key_name": "k", "url": "u"}}, TypeError, "token_env"),
        ({"kek": {"provider": "my.mod:make", "key": "00" * 32}}, TypeError, "carries no secrets"),
        ({"kek": {"provider": "my.mod:make", "items": [1]}}, TypeError, "plain values"),
        ({"keys_env": "A", "envelope": True, "cache": DataKeyCache}, TypeError, "cache must be"),
    ],
)
def test_bad_specs_fail_where_they_are_written(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        BoxSpec(**kwargs)  # type: ignore[arg-type]


def test_specs_are_immutable_and_compare_by_value() -> None:
    spec = BoxSpec(keys_env="A")
    with pytest.raises(AttributeError, match="immutable"):
        spec._keys_env = "B"  # type: ignore[misc]
    assert spec == BoxSpec(keys_env="A") and hash(spec) == hash(BoxSpec(keys_env="A"))
    assert spec != BoxSpec(keys_env="A", encoding="text")
    assert repr(BoxSpec(keys_env="A", encoding="text")) == "BoxSpec(keys_env='A', encoding='text')"


def test_a_forked_child_builds_its_own_box(ring_env: str) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    code = (
        "import os, sealbox\n"
        "spec = sealbox.BoxSpec(keys_env='SPEC_TEST_KEYS')\n"
        "box = spec.build()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if spec.build() is not box and spec.build() is spec.build() else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    env = {**os.environ, "SPEC_TEST_KEYS": RING}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "0"
