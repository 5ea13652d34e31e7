"""How a gunicorn worker closes a client's connection (``survey.gunicorn_conf.close_promptly``)."""
from __future__ import annotations

import inspect
import socket
import threading
import time

import pytest
from gunicorn import util
from gunicorn.workers import sync

from survey import gunicorn_conf

REPLY = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"


@pytest.fixture
def installed():
    original = util.close_graceful
    gunicorn_conf.post_fork(None, None)
    yield
    util.close_graceful = original


@pytest.fixture
def pair():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    yield client, server
    client.close()


def _read_all(client: socket.socket) -> bytes:
    client.settimeout(5)
    data = b""
    while chunk := client.recv(4096):
        data += chunk
    return data


def test_the_sync_worker_closes_through_the_hook_we_replace(installed):
    assert "util.close_graceful(client)" in inspect.getsource(sync.SyncWorker.handle)
    assert util.close_graceful is gunicorn_conf.close_promptly
    gunicorn_conf.post_fork(None, None)  # a second fork keeps gunicorn's own as the fallback
    assert gunicorn_conf._lingering_close is not gunicorn_conf.close_promptly


def test_a_request_read_whole_is_closed_without_waiting_for_the_client(installed, pair):
    client, server = pair
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.05)
    server.recv(4096)  # the worker read the request
    server.sendall(REPLY)
    started = time.monotonic()
    util.close_graceful(server)  # the client has not closed its side, and does not for a while
    assert time.monotonic() - started < 0.5  # gunicorn's own would wait up to 2 s for it
    assert _read_all(client) == REPLY  # the whole answer, then the end of the stream


def test_unread_request_data_still_gets_the_lingering_close(installed, pair):
    client, server = pair
    client.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 50_000)
    time.sleep(0.05)
    server.recv(100)  # the worker refused it after the first bytes
    server.sendall(REPLY)
    closed = threading.Event()
    closing = threading.Thread(target=lambda: (util.close_graceful(server), closed.set()))
    closing.start()
    time.sleep(0.2)
    assert not closed.is_set()  # it drains and waits for the client instead of resetting
    assert _read_all(client).endswith(b"hello")
    client.close()
    closing.join(5)
    assert closed.is_set()
