"""The anchor: Docker Compose's getting-started counter (app.py), as written
there, plus a /healthz route for the liveness row of the benchmark.

    REDIS_HOST=127.0.0.1 REDIS_PORT=6379 gunicorn -w 2 -b 127.0.0.1:5000 \
        --chdir bench flask_counter:app

Debian's python3-flask, python3-redis and gunicorn (sync workers).
"""

import os
import time

import redis
from flask import Flask

app = Flask(__name__)
cache = redis.Redis(
    host=os.environ.get("REDIS_HOST", "redis"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
)


def get_hit_count():
    retries = 5
    while True:
        try:
            return cache.incr("hits")
        except redis.exceptions.ConnectionError as exc:
            if retries == 0:
                raise exc
            retries -= 1
            time.sleep(0.5)


@app.route("/")
def hello():
    count = get_hit_count()
    return f"Hello World! I have been seen {count} times.\n"


@app.route("/healthz")
def healthz():
    return {"status": "ok"}
