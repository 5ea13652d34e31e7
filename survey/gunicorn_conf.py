"""gunicorn settings: ``gunicorn --config python:survey.gunicorn_conf wsgi:app``.

Every value can be overridden on the command line or by the environment variables
named below (documented in docs/configuration.md; why sync workers, 2 × cores:
docs/performance.md).
"""
import multiprocessing
import os

bind = os.environ.get("PINGYI_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("PINGYI_THREADS", "1"))
timeout = int(os.environ.get("PINGYI_TIMEOUT", "60"))
graceful_timeout = 20
max_requests = 5000  # recycle workers now and then; jitter avoids all of them at once
max_requests_jitter = 500
accesslog = os.environ.get("PINGYI_ACCESS_LOG", "-") or None  # empty: no access log
# The access log must not keep client addresses: the same rule as the database.
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket (for ``gunicornc``) defaults to one path per user account, shared by every
# instance on the host, and each worker fork waits on its thread: Pingyi does not use it.
control_socket_disable = True


def close_promptly(sock, timeout: float = 2.0, max_drain: int = 65536) -> None:
    """How a worker closes a client's connection: at once when the request was read whole.

    gunicorn 27 closes every connection "gracefully": it half-closes, then waits (up to 2 s) for
    the client to close its side, reading what it still sends, so that unread request data does
    not make the kernel answer with a reset that could cut the response short. A sync worker
    serves nobody meanwhile: a whole round trip of the citizen's network (hundreds of ms on a
    phone) per request. When nothing unread is waiting, nothing can trigger that reset (the
    answer said ``Connection: close``, so no further request comes): close at once. Otherwise
    (a body the application did not read, e.g. a refused upload), gunicorn's lingering close."""
    import socket

    from gunicorn import util

    try:
        unread = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        unread = b""
    except OSError:
        util.close(sock)
        return
    if unread:
        _lingering_close(sock, timeout, max_drain)
    else:
        util.close(sock)


_lingering_close = None  # gunicorn's own, kept by post_fork


def post_fork(server, worker) -> None:  # gunicorn's hook signature
    """In each worker: connections are closed by :func:`close_promptly`."""
    global _lingering_close
    from gunicorn import util

    if util.close_graceful is not close_promptly:
        _lingering_close = util.close_graceful
        util.close_graceful = close_promptly
