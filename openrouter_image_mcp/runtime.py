"""The long-lived objects one server shares between calls, opened and closed with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from .cost import CostControls, open_cost_controls
from .imaging.workers import ImageWorkers
from .openrouter import OpenRouterClient
from .openrouter.catalog import ModelCatalog, running_catalog
from .settings import Settings
from .sources import ImageLoader
from .telemetry.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    loader: ImageLoader
    openrouter: OpenRouterClient
    # Image preparation in worker processes, each job under a deadline: a burst of large
    # images queues, and a hostile one cannot hold the server's CPU or memory.
    image_workers: ImageWorkers
    # Bounds how many large loaded originals are held at once (see LoadedImage): one per
    # image worker, so a burst of 20 MB images queues before loading instead of piling up.
    loaded_images: anyio.Semaphore
    # Model checks and prices, rate limits, budgets, the answer cache, the upstream cap.
    cost: CostControls
    # What GET /metrics reports: this server's calls, upstream requests, spend, queues.
    metrics: Metrics


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    loader = ImageLoader(settings)
    openrouter = OpenRouterClient(settings)
    image_workers = ImageWorkers(settings)
    metrics = Metrics(settings)
    metrics.watch_queue("image_workers", image_workers.waiting)
    try:
        async with (
            running_catalog(ModelCatalog(openrouter.models)) as catalog,
            open_cost_controls(settings, catalog, metrics) as cost,
        ):
            yield Runtime(
                settings=settings,
                loader=loader,
                openrouter=openrouter,
                image_workers=image_workers,
                loaded_images=anyio.Semaphore(settings.image_workers),
                cost=cost,
                metrics=metrics,
            )
    finally:
        with anyio.CancelScope(shield=True):
            await image_workers.aclose()
            await openrouter.aclose()
            await loader.aclose()
