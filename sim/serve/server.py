"""The serving loop: requests arrive, the policy forms a batch, the iteration takes the
simulated time of that batch, its tokens are emitted at its end."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from yamlspec import SpecError


PROGRESS_EVERY = 4096  # iterations between progress-bar updates
ITERATION_COLUMNS = ("start", "seconds", "joules", "busy", "tokens", "prefill", "kv_used")
# per iteration: start time, its seconds and joules, the 2D array's busy seconds (its
# utilization x seconds), tokens computed, whether it held prompt tokens, KV-cache
# tokens held at its end. Columns of plain lists: a long run has millions.


@dataclass
class Run:
    requests: list
    iterations: dict[str, list]  # ITERATION_COLUMNS
    kv_capacity: int
    policy: str
    end: float = 0.0
    preemptions: int = 0
    extra: dict = field(default_factory=dict)


class Server:
    """The state a policy reads and changes: the waiting queue, the running requests
    and the KV cache in tokens."""

    def __init__(self, kv_capacity: int):
        self.kv_capacity = kv_capacity
        self.kv_used = 0
        self.reserved: dict[int, int] = {}
        self.waiting: deque = deque()
        self.running: list = []
        self.preemptions = 0

    def admit(self, request, tokens: int) -> bool:
        """Reserve `tokens` more KV cache for `request` if they fit."""
        if self.kv_used + tokens > self.kv_capacity:
            return False
        self.reserve(request, tokens)
        return True

    def reserve(self, request, tokens: int):
        self.kv_used += tokens
        self.reserved[request.id] = self.reserved.get(request.id, 0) + tokens

    def free(self, request):
        self.kv_used -= self.reserved.pop(request.id, 0)

    def make_room(self):
        """Preempt the latest-admitted requests until every decoding request can grow
        by one token; a preempted request drops its cache and recomputes it later
        (prompt and tokens so far, as one prefill), first in the queue."""
        if self.kv_used + len(self.running) <= self.kv_capacity:
            return  # room for every running request to grow: the common case
        while self.running:
            decoding = sum(1 for r in self.running if r.prefill_left == 0)
            if self.kv_used + decoding <= self.kv_capacity:
                return
            victim = self.running.pop()
            self.free(victim)
            victim.kv = 0
            victim.prefill_left = victim.prompt + victim.generated
            victim.preempted += 1
            self.preemptions += 1
            self.waiting.appendleft(victim)


def serve(requests: list, policy, cost_model, kv_capacity: int,
          progress=None) -> Run:
    """Simulate serving `requests` (fresh Request objects) under `policy`.

    A plain event loop: between iterations nothing happens but arrivals, so the clock
    steps from iteration end to iteration end (or to the next arrival when idle), with
    the arithmetic a simpy loop would do. Stretches where every running request only
    decodes (policy.steady_decode, nothing waiting) advance in one step, see
    _decode_stretch."""
    too_big = [r for r in requests if r.prompt + r.output > kv_capacity]
    if too_big:
        r = too_big[0]
        raise SpecError(f"request {r.id} needs {r.prompt + r.output:,} tokens of KV cache, "
                        f"more than the whole cache ({kv_capacity:,} tokens); it can never "
                        f"be served")
    for r in requests:
        r.kv, r.prefill_left = 0, r.prompt
    server = Server(kv_capacity)
    iterations = {c: [] for c in ITERATION_COLUMNS}
    columns = [iterations[c].append for c in ITERATION_COLUMNS]
    holds = getattr(policy, "holds_finished", False)
    steady = getattr(policy, "steady_decode", False)
    visible = _enqueue_times(requests)
    now, arrived, left, reported = 0.0, 0, [len(requests)], 0
    while left[0]:
        while arrived < len(requests) and visible[arrived] <= now:
            server.waiting.append(requests[arrived])
            arrived += 1
        if (steady and not server.waiting and server.running
                and not any(r.prefill_left for r in server.running)):
            until = visible[arrived] if arrived < len(requests) else float("inf")
            stretch_end = _decode_stretch(server, cost_model, now, until, iterations)
            if stretch_end is not None:
                now = stretch_end
                continue
        batch = policy.next(server)
        if batch is None:
            now = visible[arrived]  # idle until the next arrival
            continue
        seconds, joules, busy = cost_model.iteration(batch.tokens, batch.attention,
                                                     batch.rows)
        start, now = now, now + seconds
        _finish(batch, now, server, holds, left)
        for put, value in zip(columns, (start, seconds, joules, busy, batch.tokens,
                                        batch.prefill, server.kv_used)):
            put(value)
        if progress and len(iterations["start"]) // PROGRESS_EVERY > reported:
            reported = len(iterations["start"]) // PROGRESS_EVERY
            progress(now)
    return Run(requests, iterations, kv_capacity, type(policy).__name__, now,
               server.preemptions)


def _enqueue_times(requests: list) -> list[float]:
    """When each request joins the queue: in list order, each at its arrival or when
    the one before it joined, whichever is later (the clock steps by now + (arrival -
    now), as a simpy timeout would)."""
    times, now = [], 0.0
    for r in requests:
        if r.arrival > now:
            now = now + (r.arrival - now)
        times.append(now)
    return times


def _decode_stretch(server: Server, cost_model, now: float, until: float,
                    iterations: dict) -> float | None:
    """Run the iterations in which every running request decodes one token and nothing
    else can change: up to the one before the first completion, while the KV cache has
    room, stopping after the iteration that ends at or past `until` (the next arrival).
    Each iteration's cost is cost_model.iteration's, summed in the same order, so the
    times are the same to the last bit. Returns the new time, or None if no stretch."""
    import numpy as np

    running = server.running
    size = len(running)
    steps = min(min(r.output - r.generated for r in running) - 1,
                (server.kv_capacity - server.kv_used) // size)
    if steps < 2:
        return None
    seconds, joules, busy = cost_model.decode_steps([r.kv for r in running], steps)
    ends = np.cumsum(np.concatenate(([now], seconds)))[1:]  # sequential, as now += s
    steps = min(steps, int(np.searchsorted(ends, until)) + 1)
    ends = ends[:steps].tolist()
    for r in running:
        r.kv += steps
        r.generated += steps
        r.token_times.extend(ends)
        server.reserve(r, steps)
    kv_used = server.kv_used - size * steps
    iterations["start"].extend([now] + ends[:-1])
    iterations["seconds"].extend(seconds[:steps].tolist())
    iterations["joules"].extend(joules[:steps].tolist())
    iterations["busy"].extend(busy[:steps].tolist())
    iterations["tokens"].extend([size] * steps)
    iterations["prefill"].extend([False] * steps)
    iterations["kv_used"].extend(range(kv_used + size, kv_used + size * (steps + 1), size))
    return ends[-1]


def _finish(batch, now: float, server: Server, holds: bool, left: list):
    for request, new in batch.work:
        request.kv += new
        if request.prefill_left:
            request.prefill_left -= new
            if request.prefill_left:
                continue
        request.generated += 1
        request.token_times.append(now)
        if request.generated == request.output:
            request.done = now
            left[0] -= 1
            if not holds:
                server.running.remove(request)
                server.free(request)
    if holds and all(r.done is not None for r in server.running):
        for r in server.running:
            server.free(r)
        server.running.clear()
