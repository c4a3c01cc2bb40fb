"""Dynamic micro-batching (Ray Serve's shape): an asyncio.Queue plus one Future per image.

The loop takes the first waiting image, gathers more until ``max_batch_size`` or ``max_wait_ms``,
runs the model in a thread, and resolves each Future with its own row. A full queue refuses new
work at once (503 + Retry-After) instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from wastesort_api.metrics import Metrics
from wastesort_api.runner import ServedModel


class Overloaded(Exception):
    pass


class Stale(Exception):
    pass


@dataclass
class _Item:
    x: np.ndarray
    model: ServedModel
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)


class Batcher:
    def __init__(self, *, limits: Callable[[], tuple[int, float]], max_queue: int, metrics: Metrics,
                 stale_after_s: float = 30.0):
        self.limits = limits  # () -> (max_batch_size, max_wait_ms); read per batch so /change applies live
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self.metrics = metrics
        self.stale_after_s = stale_after_s
        self._task: asyncio.Task | None = None
        # model calls on a thread of their own: never queued behind decoding or file I/O
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="inference")

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def submit(self, x: np.ndarray, model: ServedModel) -> np.ndarray:
        item = _Item(x, model, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.metrics.rejected.labels(reason="queue_full").inc()
            raise Overloaded(f"{self.queue.maxsize} images already waiting") from None
        self.metrics.queue_depth.set(self.queue.qsize())
        return await item.future

    async def _collect(self) -> list[_Item]:
        first = await self.queue.get()
        max_size, max_wait_ms = self.limits()
        batch = [first]
        deadline = time.monotonic() + max_wait_ms / 1000
        while len(batch) < max_size:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            self.metrics.queue_depth.set(self.queue.qsize())
            now = time.monotonic()
            live = []
            for it in batch:
                if it.future.done():  # caller went away
                    continue
                if now - it.enqueued > self.stale_after_s:
                    it.future.set_exception(Stale("waited too long for the model"))
                    continue
                live.append(it)
            # one model call per snapshot: items queued before a swap run on their own model
            for model in {id(it.model): it.model for it in live}.values():
                group = [it for it in live if it.model is model]
                await self._run(model, group)

    async def _run(self, model: ServedModel, group: list[_Item]) -> None:
        started = time.perf_counter()
        try:
            probs = await asyncio.get_running_loop().run_in_executor(
                self._executor, model.predict, np.stack([it.x for it in group]))
        except Exception as exc:  # the whole batch fails together, loudly
            for it in group:
                if not it.future.done():
                    it.future.set_exception(exc)
            return
        self.metrics.predict_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(group))
        for it, p in zip(group, probs, strict=True):
            if not it.future.done():
                it.future.set_result(p)
