"""Celery baseline for `cargo xtask bench` (jobs section). Loopback only.

Starts one Celery worker (a subprocess: `celery -A celery_bench worker`) on a Redis broker,
enqueues N no-op tasks as fast as one producer can, waits until every task ran, stops the worker,
and prints one JSON line:

    {"jobs", "seconds", "jobs_per_s", "lag_p50_ms", "lag_p99_ms", ...}

Each task gets its enqueue time (`time.time()` just before `apply_async`) as an argument and
stores "<enqueued> <started>" in one Redis hash, so lag = started - enqueued, and
seconds = last start - first enqueue. The same machine's clock stamps both.

Configuration (the same semantics as blueprint-worker where Celery has them, otherwise the
setting that favours Celery):
  - acks_late: acknowledged after the run (at-least-once, as blueprint-worker);
  - no result backend (`task_ignore_result`): the one Redis write per task above is the whole
    record (blueprint-worker writes a full job record on claim and on ack);
  - default prefetch multiplier (4); no gossip, mingle or heartbeat (less broker chatter);
  - JSON serialisation.

Usage: celery_bench.py --redis-url redis://127.0.0.1:PORT/1 --jobs N --concurrency C
                       [--pool prefork|threads] [--timeout SECONDS]
Environment: BENCH_REDIS_URL is set for the worker subprocess (it imports this module).
"""

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time

import celery
import redis
from celery import Celery

STARTED_KEY = "bench:started"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("celery_bench", broker=REDIS_URL)
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_client = None


def client():
    """One Redis client per process (created after a prefork fork), thread-safe for `threads`."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(REDIS_URL)
    return _client


@app.task(name="bench.noop")
def noop(index, enqueued_at):
    """The no-op job: records when it started, next to when it was enqueued."""
    started = time.time()
    client().hset(STARTED_KEY, index, f"{enqueued_at!r} {started!r}")


def percentile(sorted_values, p):
    """Nearest-rank percentile, as xtask computes it for blueprint-worker."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def stop(worker):
    """SIGTERM (warm shutdown), then SIGKILL after 10 s."""
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_ready(worker, deadline):
    while time.time() < deadline:
        if worker.poll() is not None:
            sys.exit(f"the celery worker exited with {worker.returncode} before it was ready")
        if app.control.ping(timeout=0.5):
            return
    sys.exit("the celery worker did not answer a ping within its deadline")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pool", choices=["prefork", "threads"], default="prefork")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    # SIGTERM from xtask (its time limit) unwinds through `finally`, which stops the worker.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    app.conf.broker_url = args.redis_url
    global REDIS_URL
    REDIS_URL = args.redis_url

    db = redis.Redis.from_url(args.redis_url)
    db.flushdb()
    env = dict(os.environ, BENCH_REDIS_URL=args.redis_url, PYTHONDONTWRITEBYTECODE="1")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_bench", "worker",
         "--pool", args.pool, "--concurrency", str(args.concurrency), "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=os.path.dirname(os.path.abspath(__file__)), env=env,
        stdin=subprocess.DEVNULL, stdout=sys.stderr,
    )
    try:
        deadline = time.time() + args.timeout
        wait_ready(worker, min(deadline, time.time() + 60))
        first = time.time()
        with app.producer_or_acquire() as producer:
            for i in range(args.jobs):
                noop.apply_async((i, time.time()), producer=producer)
        enqueue_seconds = time.time() - first
        while db.hlen(STARTED_KEY) < args.jobs:
            if time.time() > deadline or worker.poll() is not None:
                sys.exit(f"only {db.hlen(STARTED_KEY)} of {args.jobs} tasks ran "
                         f"(worker exit code: {worker.poll()})")
            time.sleep(0.01)
        # Let the acknowledgements land before the worker stops (not timed).
        while db.llen("celery") or db.hlen("unacked"):
            if time.time() > deadline:
                break
            time.sleep(0.01)
    finally:
        stop(worker)

    pairs = [v.split() for v in db.hvals(STARTED_KEY)]
    starts = [float(s) for _, s in pairs]
    lags = sorted((float(s) - float(e)) * 1000 for e, s in pairs)
    seconds = max(starts) - first
    print(json.dumps({
        "jobs": len(pairs),
        "seconds": seconds,
        "jobs_per_s": len(pairs) / seconds,
        "enqueue_seconds": enqueue_seconds,
        "lag_p50_ms": percentile(lags, 50),
        "lag_p99_ms": percentile(lags, 99),
        "lag_max_ms": lags[-1],
        "celery_version": celery.__version__,
        "pool": args.pool,
        "concurrency": args.concurrency,
    }))


if __name__ == "__main__":
    main()
