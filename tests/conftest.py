"""Shared fixtures: the real app on a free local port, and a gradio_client for it.

Importing kernels_playground first gives MLX its fast BLAS (see fast_blas.py) for every test.
The app is started once per test session, in this process (Gradio serves from a background
thread), with its working folder (runs/, uploads/) in a temporary directory.
"""

import os
import socket

import pytest

import kernels_playground  # noqa: F401

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from tests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def app_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("menny_app")


@pytest.fixture(scope="session")
def running_app(app_workdir):
    """(url, session) of the real app, started as `python demo.py` would, on loopback."""
    import demo

    args = demo.parse_args(["--port", str(free_port()), "--workdir", str(app_workdir)])
    session = demo.Session(args.workdir, args.weights, allow_training=True)
    app = demo.build_app(session)
    url = demo.launch(app, args, auth=None)
    yield url, session
    app.close()


@pytest.fixture(scope="session")
def app_url(running_app):
    return running_app[0]


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)
