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
