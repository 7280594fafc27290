"""One job's events to any number of followers: a tab, a reloaded tab, the API, all at once.

A follower that attaches late first gets the job's current state (its Started event, notices, the
latest progress and preview, or how it ended), then the events as they come. Followers never slow
the job: each has its own small buffer, and when one falls behind its oldest progress and preview
updates are dropped (the newest say more); Started, notices and the ending are never dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

from .events import TERMINAL, Event, Notice, Preview, Progress, Started

_BUFFER = 64  # events a slow follower may lag behind before its oldest progress/preview updates go
_KEEP_ENDED = 600.0  # seconds an ended job's channel stays for late followers (then the history answers)


class _Follower:
    def __init__(self) -> None:
        self.events: deque[Event] = deque()
        self.ready = threading.Condition()

    def put(self, event: Event) -> None:
        with self.ready:
            self.events.append(event)
            if len(self.events) > _BUFFER:
                for old in list(self.events):
                    if isinstance(old, (Progress, Preview)):
                        self.events.remove(old)
                        break
            self.ready.notify()

    def get(self, timeout: float) -> Event | None:
        with self.ready:
            if not self.events:
                self.ready.wait(timeout)
            return self.events.popleft() if self.events else None


@dataclass
class _Channel:
    started: Started | None = None
    notices: list[Notice] = field(default_factory=list)
    progress: Progress | None = None
    preview: Preview | None = None
    ended: Event | None = None
    ended_at: float = 0.0
    followers: list[_Follower] = field(default_factory=list)
    live: bool = False  # a job of this process publishes here (not just followers waiting for one)

    def snapshot(self) -> list[Event]:
        kept = [self.started, *self.notices, self.progress, self.preview, self.ended]
        return [event for event in kept if event is not None]


class Fanout:
    """Channels of the jobs this process runs, keyed by job id."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._lock = threading.Lock()

    def open(self, job_id: str) -> None:
        """Mark the job as run by this process, before its first event (followers may already wait on it)."""
        with self._lock:
            self._forget_old()
            self._channels.setdefault(job_id, _Channel()).live = True

    def has(self, job_id: str) -> bool:
        """Whether this process runs (or ran) the job."""
        with self._lock:
            return job_id in self._channels and self._channels[job_id].live

    def publish(self, event: Event) -> None:
        with self._lock:
            channel = self._channels.setdefault(event.job_id, _Channel())
            channel.live = True
            if isinstance(event, Started):
                channel.started = event
            elif isinstance(event, Notice):
                channel.notices.append(event)
            elif isinstance(event, Progress):
                channel.progress = event
            elif isinstance(event, Preview):
                channel.preview = event
            elif isinstance(event, TERMINAL):
                channel.ended, channel.ended_at = event, time.monotonic()
            followers = list(channel.followers)
        for follower in followers:
            follower.put(event)

    def follow(self, job_id: str, *, poll: float = 1.0) -> Iterator[Event | None]:
        """The job's state so far, then its events until it ends; yields None every `poll` seconds of silence
        (so a caller can look at the job's record, or notice a client that went away). Following a job that
        has not started yet misses none of its events. Closing the iterator only detaches this follower."""
        follower = _Follower()
        with self._lock:
            channel = self._channels.setdefault(job_id, _Channel())
            backlog = channel.snapshot()
            if channel.ended is None:
                channel.followers.append(follower)
        try:
            for event in backlog:
                yield event
                if isinstance(event, TERMINAL):
                    return
            while True:
                event = follower.get(poll)
                yield event
                if isinstance(event, TERMINAL):
                    return
        finally:
            with self._lock:
                if follower in channel.followers:
                    channel.followers.remove(follower)
                if not channel.live and not channel.followers and self._channels.get(job_id) is channel:
                    del self._channels[job_id]  # waited for a job that another process runs

    def _forget_old(self) -> None:
        now = time.monotonic()
        for job_id in [j for j, c in self._channels.items() if c.ended is not None and now - c.ended_at > _KEEP_ENDED]:
            del self._channels[job_id]
