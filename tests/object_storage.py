"""Pytest plugin: object storage servers for the XCom object-store tests.

Servers follow the repo's fixture rule. A server at a URL from the environment is used
(``TRADEWIND_TEST_S3_ENDPOINT``, ``TRADEWIND_TEST_GCS_ENDPOINT``). Otherwise a throwaway one is
started when its binary is installed (moto's ``moto_server``, ``gcp-storage-emulator``), once
per test worker on a free port. If neither, the test is skipped with the reason, except under
``CI=true``, where it fails. Every test gets a fresh bucket.

``*_store_url`` fixtures return ``(url, storage_options)`` for
``ObjectStore(url, storage_options=...)``; ``object_store_url`` is all of them in turn, for
suites that run against every store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

StoreUrl = tuple[str, dict[str, Any]]

S3_ENDPOINT_ENV = "TRADEWIND_TEST_S3_ENDPOINT"
GCS_ENDPOINT_ENV = "TRADEWIND_TEST_GCS_ENDPOINT"
# moto accepts any credentials; a real S3-compatible server (MinIO) needs its own.
S3_KEY = os.environ.get("TRADEWIND_TEST_S3_KEY", "testing")
S3_SECRET = os.environ.get("TRADEWIND_TEST_S3_SECRET", "testing")
# Not us-east-1: s3fs sends it as a bucket LocationConstraint, which S3 refuses for that one.
S3_REGION = "eu-west-1"
# S3's smallest multipart part, so a few MB exercise multipart uploads (s3fs default: 50 MB).
S3_BLOCK_SIZE = 5 * 2**20


def pytest_configure(config: pytest.Config) -> None:
    # aiohttp's hint when gcsfs uploads a chunk as bytes; harmless, and ignored outside tests
    # (ResourceWarning), but filterwarnings = error would fail the upload.
    config.addinivalue_line(
        "filterwarnings", "ignore:Sending a large body directly with raw bytes:ResourceWarning"
    )


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: services must be available)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True  # an error page is an answer
    except OSError:
        return False
    return True


def _binary(name: str) -> str | None:
    """``name`` next to this interpreter (the venv's bin folder), else on ``PATH``."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


@contextlib.contextmanager
def _throwaway_server(
    name: str, command: list[str], probe_url: str, log_path: Path
) -> Iterator[None]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _answers(probe_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                _unavailable(f"{name} did not start ({' '.join(command)}):\n{tail}")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _server(
    env: str, binary: str, args: list[str], probe_path: str, tmp: pytest.TempPathFactory
) -> Iterator[str]:
    """The endpoint from ``env`` if set, else a throwaway ``binary`` on a free port."""
    if url := os.environ.get(env, "").rstrip("/"):
        if not _answers(url + probe_path):
            _unavailable(f"{env}={url} does not answer")
        yield url
        return
    path = _binary(binary)
    if path is None:
        _unavailable(f"{binary} is not installed and {env} is not set")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp.mktemp(binary) / "server.log"
    command = [path, *(a.format(port=port) for a in args)]
    with _throwaway_server(binary, command, url + probe_path, log_path):
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL of an S3-compatible server (moto unless the environment names one)."""
    yield from _server(
        S3_ENDPOINT_ENV, "moto_server", ["-H", "127.0.0.1", "-p", "{port}"], "/", tmp_path_factory
    )


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL of a GCS JSON API server (gcp-storage-emulator, in memory)."""
    args = ["start", "--host", "127.0.0.1", "--port", "{port}", "--in-memory", "--quiet"]
    yield from _server(
        GCS_ENDPOINT_ENV, "gcp-storage-emulator", args, "/storage/v1/b", tmp_path_factory
    )


def s3_options(endpoint: str) -> dict[str, Any]:
    """Storage options for the test S3 server."""
    return {
        "key": S3_KEY,
        "secret": S3_SECRET,
        "endpoint_url": endpoint,
        "client_kwargs": {"region_name": S3_REGION},
        "default_block_size": S3_BLOCK_SIZE,
    }


def gcs_options(endpoint: str) -> dict[str, Any]:
    """Storage options for the test GCS emulator (no credentials)."""
    return {"endpoint_url": endpoint, "token": "anon", "project": "tradewind-test"}


def _bucket_name() -> str:
    return f"tradewind-test-{uuid.uuid4().hex[:16]}"


def _remove_bucket(fs: Any, bucket: str) -> None:
    """Best effort: throwaway servers vanish anyway; shared ones should not fill up."""
    with contextlib.suppress(Exception):
        if objects := fs.find(bucket):
            fs.rm(objects)
        fs.rmdir(bucket)


@pytest.fixture
def s3_store_url(s3_server: str) -> Iterator[StoreUrl]:
    """``("s3://<fresh bucket>/xcom", options)``; the bucket is removed afterwards."""
    import s3fs

    options = s3_options(s3_server)
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    bucket = _bucket_name()
    fs.mkdir(bucket)
    yield f"s3://{bucket}/xcom", options
    _remove_bucket(fs, bucket)


@pytest.fixture
def gcs_store_url(gcs_server: str) -> Iterator[StoreUrl]:
    """``("gs://<fresh bucket>/xcom", options)``; the bucket is removed afterwards."""
    from gcsfs.core import GCSFileSystem

    options = gcs_options(gcs_server)
    fs = GCSFileSystem(skip_instance_cache=True, **options)
    bucket = _bucket_name()
    fs.mkdir(bucket)
    yield f"gs://{bucket}/xcom", options
    _remove_bucket(fs, bucket)


@pytest.fixture
def file_store_url(tmp_path: Path) -> StoreUrl:
    """``("file://<tmp>/xcom", {})``: a local folder (not created yet)."""
    return f"file://{tmp_path / 'xcom'}", {}


@pytest.fixture(params=["file", "s3", "gcs"])
def object_store_url(request: pytest.FixtureRequest) -> StoreUrl:
    """Each kind of store in turn: ``(url, storage_options)``."""
    url: StoreUrl = request.getfixturevalue(f"{request.param}_store_url")
    return url
