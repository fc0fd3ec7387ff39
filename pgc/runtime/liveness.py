"""The watchdog, each worker's heartbeat, and naming the worker that stopped answering.

Every worker's watchdog thread publishes a heartbeat record in the rendezvous store once a
second (`beat/<worker>`): a counter, the workers it waits on (none while it computes) and what
it is doing. A worker whose wait times out reads every record twice, `CHECK` seconds apart: a
worker whose counter did not move is stopped or dead. Following the waits from the peer it
waited on (the peer, whom that peer waits on, ...) ends at such a worker, whichever worker
timed out first and however long the chain: that is the worker named. The diagnosis is
published (`failed`); every other worker's watchdog sees it within a beat and ends its
process with that line, so every live worker reports within the timeout plus a few seconds.

The thread talks to the store through a client connection of its own, and `close` joins the
thread before the process group is destroyed or the process exits (a store call racing the
process group's teardown can abort a process).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch.distributed as dist

from .plan import PlanError

STOP = threading.Event()  # set by SIGTERM: checkpoint at the end of the step and stop
BEAT = 1.0  # seconds between heartbeats
CHECK = 2.5  # seconds between the two reads that tell a stopped worker from a live one
STORE_TIMEOUT = 10.0  # seconds a store call may take (the store lives in torchrun's agent)
FAILED = "failed"


def liveness_store() -> Any:
    """A client connection of its own to torchrun's rendezvous store, under a prefix of this
    run and restart; None when there is none (then no worker can be named)."""
    try:
        client = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                               is_master=False,
                               timeout=datetime.timedelta(seconds=STORE_TIMEOUT))
    except (KeyError, ValueError, RuntimeError):
        return None
    run = os.environ.get("TORCHELASTIC_RUN_ID", "run")
    return dist.PrefixStore(f"pgc/{run}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}",
                            client)


class Watchdog:
    """Beats, ends the process when another worker published a failure, and ends it when one
    wait lasts longer than 1.5 x the timeout (gloo times its own waits; this catches the
    others). Without a store it only watches the time."""

    exit = staticmethod(os._exit)  # ends the process at once: the main thread is blocked

    def __init__(self, me: str, timeout: float, store: Any = None,
                 workers: Iterable[str] = ()) -> None:
        self.me, self.timeout, self.store = me, timeout, store
        self.workers = tuple(workers)
        self.current: tuple[str, float] | None = None  # the action, since when
        self.waits: tuple[tuple[str, ...], str] = ((), "")  # whom a blocking call waits on
        self.beats = 0
        self.lock = threading.Lock()  # one store call at a time from this process
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop watching and wait for the thread to end: it must not be inside a call on the
        store while the process group is destroyed or the process exits."""
        self.closed.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=STORE_TIMEOUT + 2)

    def enter(self, what: str) -> None:
        """`what` names the action, e.g. "action `RECV_F m3 <-n0` (action 5 of step 0)"."""
        self.current = (what, time.monotonic())

    def leave(self) -> None:
        self.current = None

    @contextlib.contextmanager
    def blocking(self, on: Iterable[str], what: str, waited: str = "") -> Iterator[None]:
        """Around a call that waits on the workers `on`: the heartbeat says so, and a
        RuntimeError of the call (gloo's timeout, or a peer that went away) becomes the error
        naming the worker that stopped answering, published so that every other worker
        stops too."""
        on = tuple(w for w in on if w != self.me)
        self.waits = (on, what)
        try:
            yield
        except RuntimeError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            line = f"worker {self.me} failed in `{what}`{waited} ({first}); {self.diagnose(on)}"
            self.publish(line)
            raise PlanError(line) from exc
        finally:
            self.waits = ((), "")

    def record(self) -> str:
        """This worker's heartbeat: counter, whom it waits on, what it is doing."""
        on, what = self.waits
        doing = self.current[0] if self.current else what or "between actions"
        return f"{self.beats}\t{','.join(on)}\t{doing}"

    def _watch(self) -> None:
        self._beat()  # at once: a worker that stops in its first second has a record too
        while not self.closed.wait(min(BEAT, self.timeout / 4)):
            self._beat()
            cur = self.current
            if STOP.is_set() and cur is not None and time.monotonic() - cur[1] > 5:
                # SIGTERM arrived while blocked in a wait the signal cannot interrupt: a peer is
                # gone, so the step cannot finish and no checkpoint can be agreed on.
                print(f"pgc: worker {self.me} stopped by SIGTERM in {cur[0]}", file=sys.stderr,
                      flush=True)
                self.exit(143)
            if cur is not None and time.monotonic() - cur[1] > self.timeout * 1.5 + 2:
                on = self.waits[0]
                why = f"; {self.diagnose(on)}" if on else ""
                print(f"pgc: error: worker {self.me} timed out after {self.timeout:g} s in "
                      f"{cur[0]}{why}", file=sys.stderr, flush=True)
                self.exit(3)

    def _beat(self) -> None:
        if self.store is None:
            return
        self.beats += 1
        try:
            with self.lock:
                self.store.set(f"beat/{self.me}", self.record())
                failed = self.store.get(FAILED).decode() if self.store.check([FAILED]) else ""
        except Exception:  # noqa: BLE001 - the store is gone: the job is ending anyway
            return
        who, _, line = failed.partition("\t")
        if line and who != self.me:  # another worker failed: this step cannot finish
            print(f"pgc: error: worker {self.me} stops: {line}", file=sys.stderr, flush=True)
            self.closed.set()
            self.exit(1)

    def publish(self, line: str) -> None:
        """Record why this worker fails: every other worker stops with this line within a
        beat, instead of waiting for its own timeout. The first failure published stays."""
        with contextlib.suppress(Exception), self.lock:  # best effort: it is printed anyway
            if not self.store.check([FAILED]):
                self.store.set(FAILED, f"{self.me}\t{line}")

    def published(self) -> str:
        """The failure another worker published, or ""."""
        try:
            with self.lock:
                failed = self.store.get(FAILED).decode() if self.store.check([FAILED]) else ""
        except Exception:  # noqa: BLE001 - no store: nothing published
            return ""
        who, _, line = failed.partition("\t")
        return line if who != self.me else ""

    def diagnose(self, on: Iterable[str]) -> str:
        """Why a wait on the workers `on` failed: another worker's published failure, else
        the worker that stopped answering at the end of the wait chain."""
        if self.store is None:
            return "could not tell which worker is stuck (no rendezvous store)"
        failed = self.published()
        if failed:
            return f"stopped because {failed}"
        try:
            first = self._records()
            time.sleep(CHECK)
            return stopped_worker(self.me, first, self._records(), tuple(on))
        except Exception as exc:  # noqa: BLE001 - the diagnosis must never hide the error
            return f"could not tell which worker is stuck ({exc})"

    def _records(self) -> dict[str, str]:
        keys = [f"beat/{w}" for w in self.workers]
        with self.lock:
            there = keys if self.store.check(keys) else [k for k in keys if self.store.check([k])]
            values = self.store.multi_get(there) if there else []
        return {k.removeprefix("beat/"): bytes(v).decode() for k, v in zip(there, values)}


def stopped_worker(me: str, first: Mapping[str, str], second: Mapping[str, str],
                   on: tuple[str, ...]) -> str:
    """Name the worker that stopped answering, from two readings of every heartbeat record
    (`counter\\twaits-on\\tdoing`): breadth-first along the waits from `on`, the first worker
    whose record did not change. Failing that, a live worker that waits on nobody (busy), or
    the live workers that wait on each other. O(workers + waits)."""
    alive = {w for w, rec in second.items() if first.get(w) != rec}
    if me not in alive:
        return "could not tell which worker is stuck (no heartbeat from this worker)"
    parent: dict[str, str] = {w: me for w in on}
    queue, seen, busy = deque(on), {me}, []
    while queue:
        w = queue.popleft()
        if w in seen:
            continue
        seen.add(w)
        rec = second.get(w, "\t\t").split("\t", 2)
        if w not in alive:
            chain = [w]
            while chain[-1] != me:
                chain.append(parent[chain[-1]])
            last = f"its last heartbeat: {rec[2]}" if w in second else "no heartbeat"
            return (f"worker {w} is not responding (stopped or dead; {last}); wait chain: "
                    f"{' -> '.join(reversed(chain))}")
        if not rec[1]:
            busy.append((w, rec[2]))
        for nxt in rec[1].split(","):
            if nxt and nxt not in seen:
                parent.setdefault(nxt, w)
                queue.append(nxt)
    if busy:
        return (f"worker {busy[0][0]} is alive and busy in {busy[0][1]}, slower than the "
                f"timeout allows (raise --timeout)")
    return f"workers {', '.join(sorted(seen - {me}))} are alive and wait on each other"
