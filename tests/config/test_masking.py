"""check-config masks every secret: keys by length, passwords wherever libpq would read one."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from gomodel.config import describe_config, load_config
from gomodel.config.masking import mask_secret, mask_url
from gomodel.errors import ConfigError

PW = "Xq7vR2mK9pL4"  # shares no 5 characters with any other part of the URLs below


def leaked(secret: str, text: str) -> set[str]:
    """The 5-character pieces of ``secret`` that ``text`` shows."""
    return {secret[i : i + 5] for i in range(len(secret) - 4) if secret[i : i + 5] in text}


def libpq_password(url: str) -> str:
    """The password libpq (through psycopg) reads from ``url``; "" if none or it refuses it."""
    try:
        return conninfo_to_dict(url).get("password", "")
    except psycopg.ProgrammingError:
        return ""


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("k", "****"),
        ("sk-0123456789abcdef", "****"),  # 19
        ("x" * 23, "****"),
        ("sk-proj-0123456789abcdefWXYZ"[:24], "****cdef"),  # exactly 24
        ("sk-proj-0123456789abcdefghijklmnopWXYZ", "****WXYZ"),
    ],
)
def test_keys_reveal_at_most_their_last_4(secret: str, shown: str) -> None:
    """Below 24 characters a key shows nothing of itself; from 24, only its last 4."""
    assert mask_secret(secret) == shown


# (URL as configured, expected display); the password is whatever libpq reads from the URL,
# or where libpq reads none, the PW the user wrote.
URLS = [
    (f"postgresql://gomodel:{PW}@db.internal:5432/usage", "postgresql://gomodel:****@db.internal:5432/usage"),
    (f"postgres://:{PW}@db/usage", "postgres://:****@db/usage"),
    (
        f"postgresql://gomodel@db/usage?password={PW}&sslmode=require",
        "postgresql://gomodel@db/usage?password=****&sslmode=require",
    ),
    (
        f"postgresql://db/usage?sslmode=require&pass%77ord={PW}",
        "postgresql://db/usage?sslmode=require&pass%77ord=****",
    ),
    (f"postgresql://db/usage?PASSWORD={PW}", "postgresql://db/usage?PASSWORD=****"),
    (f"postgresql://db/usage?sslpassword={PW}", "postgresql://db/usage?sslpassword=****"),
    (
        f"postgresql://u:{PW[:4]}%40{PW[4:]}@h1:5432,h2:5433/usage",
        "postgresql://u:****@h1:5432,h2:5433/usage",
    ),
    (f"postgresql://u:{PW[:4]}@{PW[4:]}@db/usage", "postgresql://u:****@db/usage"),
    (f"postgresql://u:{PW[:4]}?{PW[4:]}@db/usage", "postgresql://u:****@db/usage"),
    (f"postgresql://u:{PW[:4]}#{PW[4:]}@db/usage", "postgresql://u:****@db/usage"),
    (f"postgresql://u:{PW[:4]}/{PW[4:]}@db/usage", "postgresql://u:****@db/usage"),
    (f"postgresql://u@db/usage?password={PW[:4]}@{PW[4:]}", "postgresql://u@db/usage?password=****"),
    (f"postgresql://u:{PW[:4]}/{PW[4:8]}?{PW[8:]}@db/usage", "postgresql://****"),
    (f"postgresql://u:{PW}@[::1]:5432/usage", "postgresql://u:****@[::1]:5432/usage"),
    (f"https://user:{PW}@vllm.example.com/v1", "https://user:****@vllm.example.com/v1"),
    ("postgresql://gomodel@db/usage?application_name=gw", "postgresql://gomodel@db/usage?application_name=gw"),
    ("https://api.example.com/v1", "https://api.example.com/v1"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "shown"), URLS)
def test_url_passwords_are_masked(url: str, shown: str) -> None:
    """The password libpq would use, and the one the user meant, are both hidden."""
    masked = mask_url(url)
    assert masked == shown
    password = libpq_password(url) if url.startswith("postgres") else ""
    for secret in (password, PW):
        assert not leaked(secret, masked)


@pytest.mark.parametrize("url", [u for u, _ in URLS if u.startswith("postgres")])
def test_postgres_url_masked_in_check_config(tmp_path: Path, url: str) -> None:
    """POSTGRES_URL, from the environment or the file, never shows its password."""
    env = {"STORAGE_TYPE": "postgresql", "POSTGRES_URL": url}
    assert not leaked(PW, describe_config(load_config(env, cwd=tmp_path)))
    (tmp_path / "config.yaml").write_text(f"storage:\n  postgresql:\n    url: '{url}'\n")
    text = describe_config(load_config({"STORAGE_TYPE": "postgresql"}, cwd=tmp_path))
    assert not leaked(PW, text)
    assert "    url: postgres" in text


def test_libpq_keyword_dsn_is_refused_without_echo(tmp_path: Path) -> None:
    """POSTGRES_URL takes a URL only; a key/value DSN is an error that does not repeat it."""
    env = {"POSTGRES_URL": f"host=db dbname=usage password={PW}"}
    with pytest.raises(ConfigError) as caught:
        load_config(env, cwd=tmp_path)
    assert str(caught.value) == "POSTGRES_URL: expected a postgresql:// URL"


def test_provider_base_url_and_key_from_file_are_masked(tmp_path: Path) -> None:
    """A provider entry's key and the password in its base URL are masked too."""
    key = "sk-file-Wd3Hs8Lq2Zr6Ty1Vb5Nm"
    (tmp_path / "config.yaml").write_text(
        "providers:\n  local:\n    type: vllm\n"
        f"    api_key: '{key}'\n    base_url: 'http://gw:{PW}@gpu-box:8000/v1'\n"
    )
    text = describe_config(load_config({}, cwd=tmp_path))
    assert not leaked(key, text)
    assert not leaked(PW, text)
    assert "    base_url: http://gw:****@gpu-box:8000/v1\n    api_key: ****b5Nm" in text
