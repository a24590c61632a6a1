"""Batching policies: each forms the next iteration's batch from the server's state.

A policy is registered in SCHEDULERS by name; `Policy.next(server)` returns a Batch or
None (nothing can run until a request arrives). KV cache is counted in tokens against
server.kv_capacity; server.admit / server.preempt keep that count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yamlspec import Registry

SCHEDULERS: Registry = Registry("scheduler", "serve_schedulers")


@dataclass
class Batch:
    """One iteration: the (request, new tokens) it advances and the shape it costs.
    `padded_to` (static batching): every prompt is computed at the longest one's length
    and every slot of a finished request still decodes."""

    work: list = field(default_factory=list)          # (request, new tokens)
    attention: list = field(default_factory=list)     # (p, m) per computed sequence
    tokens: int = 0
    rows: int = 0                                     # sequences emitting a token
    prefill: bool = False                             # any prompt tokens in it

    def add(self, request, new: int, m: int, emits: bool):
        self.work.append((request, new))
        self.attention.append((new, m))
        self.tokens += new
        self.rows += emits
        self.prefill |= request.prefill_left > 0


def _decode(batch: Batch, request):
    batch.add(request, 1, request.kv + 1, True)


def _chunk(batch: Batch, request, n: int):
    batch.add(request, n, request.kv + n, n == request.prefill_left)


@SCHEDULERS.register("continuous")
class Continuous:
    """Continuous (iteration-level) batching with prefill priority: any waiting prompt
    that fits the KV cache is prefilled whole in its own iteration, decodes stall
    meanwhile; a decode step that would overflow the cache preempts the latest-admitted
    request (recomputed later). Orca (Yu et al., OSDI 2022, Sec. 4.2 iteration-level
    scheduling); vLLM (Kwon et al., SOSP 2023, Sec. 4.5: prefill-first scheduling,
    preemption by recomputation)."""

    # with nothing waiting and no prompt left, every batch decodes each running request
    steady_decode = True  # (server.serve may then run such iterations in bulk)

    def __init__(self, max_batch: int = 256, token_budget: int = 4096):
        self.max_batch = max_batch
        self.token_budget = token_budget

    def next(self, server) -> Batch | None:
        batch = Batch()
        while server.waiting and len(server.running) < self.max_batch:
            request = server.waiting[0]
            if batch.work and batch.tokens + request.prefill_left > self.token_budget:
                break
            if not server.admit(request, request.prefill_left):
                break
            server.running.append(server.waiting.popleft())
            _chunk(batch, request, request.prefill_left)
        if batch.work:
            return batch
        server.make_room()
        for request in server.running:
            server.reserve(request, 1)
            _decode(batch, request)
        return batch if batch.work else None


@SCHEDULERS.register("chunked")
class Chunked:
    """Chunked prefill with a per-iteration token budget, stall-free: every running
    decode joins each iteration first, then prompt chunks fill the rest of the budget.
    Sarathi-Serve (Agrawal et al., OSDI 2024, Sec. 4.1-4.3, Algorithm 2)."""

    steady_decode = True  # as Continuous

    def __init__(self, max_batch: int = 256, token_budget: int = 512):
        self.max_batch = max_batch
        self.token_budget = token_budget

    def next(self, server) -> Batch | None:
        batch = Batch()
        server.make_room()
        for request in server.running:
            if request.prefill_left == 0:
                server.reserve(request, 1)
                _decode(batch, request)
        for request in [r for r in server.running if r.prefill_left > 0]:
            n = min(request.prefill_left, self.token_budget - batch.tokens)
            if n <= 0 or not server.admit(request, n):
                break
            _chunk(batch, request, n)
        while server.waiting and len(server.running) < self.max_batch:
            request = server.waiting[0]
            n = min(request.prefill_left, self.token_budget - batch.tokens)
            if n <= 0 or not server.admit(request, n):
                break
            server.running.append(server.waiting.popleft())
            _chunk(batch, request, n)
        return batch if batch.work else None


class _Static:
    """Request-level batching: a batch is formed only when the last one has finished
    all its requests; its KV cache is reserved whole at admission."""

    holds_finished = True  # a finished request's slot stays until its batch is done

    def __init__(self, max_batch: int = 16, token_budget: int = 4096):
        self.max_batch = max_batch
        self.token_budget = token_budget  # prepacking: tokens per packed prefill

    def next(self, server) -> Batch | None:
        if not server.running:
            self._form(server)
        if not server.running:
            return None
        prefilling = [r for r in server.running if r.prefill_left > 0]
        if prefilling:
            return self._prefill(prefilling)
        batch = Batch()
        longest = max(r.kv for r in server.running)
        for request in server.running:  # finished slots still compute (padding)
            if request.done is None:
                batch.add(request, 1, longest + 1, True)
            else:
                batch.attention.append((1, longest + 1))
                batch.tokens += 1
                batch.rows += 1
        return batch

    def _form(self, server):
        chosen = []
        while server.waiting and len(chosen) < self.max_batch:
            head = server.waiting[0]
            slots = len(chosen) + 1
            longest = max([r.prompt + r.output for r in chosen] + [head.prompt + head.output])
            # reserved for the padded batch: every slot at the longest prompt + output
            need = slots * longest - sum(server.reserved[r.id] for r in chosen)
            if not server.admit(head, need):
                break
            chosen.append(server.waiting.popleft())
        server.running.extend(chosen)

    def _prefill(self, prompts) -> Batch:
        batch = Batch()
        longest = max(r.prefill_left for r in prompts)
        for request in prompts:
            batch.add(request, request.prefill_left, request.prefill_left, True)
            pad = longest - request.prefill_left
            batch.tokens += pad
            batch.attention[-1] = (longest, longest)
        return batch


@SCHEDULERS.register("static")
class Static(_Static):
    """Static (request-level) batching with padding, as FasterTransformer serves: a
    batch's prompts are padded to the longest, and the batch decodes until its longest
    output is done, finished requests' slots still computing. The baseline of Orca (Yu
    et al., OSDI 2022, Sec. 2.2 and Fig. 3)."""


@SCHEDULERS.register("prepack")
class Prepack(_Static):
    """Static batching whose prefill packs prompts of different lengths into sequences
    of at most `token_budget` tokens with no padding (first-fit decreasing), attention
    restricted to each prompt by a block-diagonal mask, so no compute on padding.
    Prepacking (Zhao et al., 2024, arXiv:2404.09529, Sec. 3)."""

    def _prefill(self, prompts) -> Batch:
        packs: list[list] = []  # first-fit decreasing bin packing
        for request in sorted(prompts, key=lambda r: -r.prefill_left):
            for pack in packs:
                if sum(r.prefill_left for r in pack) + request.prefill_left <= self.token_budget:
                    pack.append(request)
                    break
            else:
                packs.append([request])
        longest = max(sum(r.prefill_left for r in pack) for pack in packs)
        batch = Batch()
        for pack in packs:
            for request in pack:
                batch.add(request, request.prefill_left, request.prefill_left, True)
            batch.tokens += longest - sum(r.prefill_left for r in pack)  # packs pad to the longest
        return batch
