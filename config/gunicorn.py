"""gunicorn settings for Vigil's web processes (`gunicorn -c config/gunicorn.py config.wsgi`).

Threaded workers: a request waiting on PostgreSQL's commit or on Redis leaves the CPU
to another request in the same process. Override with WEB_CONCURRENCY / WEB_THREADS.
"""

import multiprocessing
import os

bind = os.environ.get("VIGIL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None  # empty: no access log
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
