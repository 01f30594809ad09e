"""Reading GET /metrics the way Prometheus does: with prometheus_client's own parser."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.app.helpers import ALICE_TOKEN, auth


@dataclass(frozen=True)
class Scrape:
    samples: list[Sample]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls([s for family in text_string_to_metric_families(text) for s in family.samples])

    def value(self, name: str, **labels: str) -> float:
        """The sample `name` with exactly these labels (le included for buckets); 0 if absent,
        as Prometheus reads a series that was never created."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every series of `name`, keyed by its sorted labels."""
        return {tuple(sorted(s.labels.items())): s.value for s in self.samples if s.name == name}


async def scrape(http: httpx.AsyncClient, token: str = ALICE_TOKEN) -> Scrape:
    response = await http.get("/metrics", headers=auth(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape.parse(response.text)
