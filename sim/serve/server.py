"""The discrete-event loop (simpy): requests arrive, the policy forms a batch, the
iteration takes the simulated time of that batch, its tokens are emitted at its end."""

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
    """Simulate serving `requests` (fresh Request objects) under `policy`."""
    import simpy

    too_big = [r for r in requests if r.prompt + r.output > kv_capacity]
    if too_big:
        r = too_big[0]
        raise SpecError(f"request {r.id} needs {r.prompt + r.output:,} tokens of KV cache, "
                        f"more than the whole cache ({kv_capacity:,} tokens); it can never "
                        f"be served")
    for r in requests:
        r.kv, r.prefill_left = 0, r.prompt
    env = simpy.Environment()
    server = Server(kv_capacity)
    iterations = {c: [] for c in ITERATION_COLUMNS}
    columns = [iterations[c].append for c in ITERATION_COLUMNS]
    holds = getattr(policy, "holds_finished", False)
    arrived = [env.event()]
    left = [len(requests)]

    def arrivals():
        for r in requests:
            if r.arrival > env.now:
                yield env.timeout(r.arrival - env.now)
            server.waiting.append(r)
            if not arrived[0].triggered:
                arrived[0].succeed()

    def loop():
        while left[0]:
            batch = policy.next(server)
            if batch is None:
                arrived[0] = env.event()
                yield arrived[0]
                continue
            seconds, joules, busy = cost_model.iteration(batch.tokens, batch.attention,
                                                         batch.rows)
            start = env.now
            yield env.timeout(seconds)
            _finish(batch, env.now, server, holds, left)
            for put, value in zip(columns, (start, seconds, joules, busy, batch.tokens,
                                            batch.prefill, server.kv_used)):
                put(value)
            if progress and len(iterations["start"]) % PROGRESS_EVERY == 0:
                progress(env.now)

    env.process(arrivals())
    env.process(loop())
    env.run()
    return Run(requests, iterations, kv_capacity, type(policy).__name__, env.now,
               server.preemptions)


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
