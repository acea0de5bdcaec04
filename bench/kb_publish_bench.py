"""Publishing the knowledge base while a bot runs: seconds until the running bot answers with the new version,
and the time of the console's preview over 1,000 sample profiles.

    .venv/bin/python bench/kb_publish_bench.py [--publishes 7] [--refresh 2.0]

- Publish-to-live: a `ruta chat --json` process runs (RUTA_KB_REFRESH_SECONDS=--refresh); each round publishes
  a version with a new address for the Copiapó business centre (bot/kb_versions.py, as the console and
  `ruta kb import` do) and asks the running bot where Sercotec is until the reply shows it. Median, min, max.
- Preview: bot/kb_preview.change_summary over the fixed sample of 1,000 profiles, published against the
  draft (each profile diagnosed twice). Median of 5.
Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.kb_items import KINDS, item_data, items, with_item  # noqa: E402
from bot.kb_preview import change_summary  # noqa: E402
from bot.kb_versions import KnowledgeVersions  # noqa: E402
from bot.storage import Store  # noqa: E402
from knowledge import load_knowledge_base  # noqa: E402
from tests.kb.live_chat import QUESTION, RunningChat  # noqa: E402


def publish_to_live(publishes: int, refresh: float) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        seconds = []
        with RunningChat(home, RUTA_KB_REFRESH_SECONDS=str(refresh)) as chat:
            chat.ask(QUESTION)  # started: the shipped knowledge base is seeded
            versions = KnowledgeVersions(Store(f"sqlite:///{home / 'ruta.sqlite3'}"))
            for round_ in range(publishes):
                address = f"Atacama {1000 + round_}, Copiapó"
                files = versions.files(versions.serving().version_id)  # type: ignore[union-attr]
                office = next(i for i in items(files, KINDS["office"]) if i.key == "sercotec_centro_negocios_copiapo")
                files = with_item(files, office, {**item_data(files, office), "address": address})
                started = time.monotonic()
                versions.publish_files(files, "bench", f"ronda {round_}")
                chat.wait_for(address)
                seconds.append(time.monotonic() - started)
                time.sleep(refresh * 0.37)  # publish at varied moments of the bot's refresh period
        return seconds


def preview_seconds(runs: int = 5) -> list[float]:
    kb = load_knowledge_base()
    office = kb.offices["sercotec_centro_negocios_copiapo"]
    draft = replace(kb, offices={**kb.offices, office.id: office.model_copy(update={"address": "Atacama 1"})})
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        summary = change_summary(kb, draft, date(2026, 12, 3))
        timings.append(time.perf_counter() - started)
    print(f"preview: {summary.changed} of {summary.total} sample routes change")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishes", type=int, default=7)
    parser.add_argument("--refresh", type=float, default=2.0, help="RUTA_KB_REFRESH_SECONDS of the running bot")
    args = parser.parse_args()
    live = publish_to_live(args.publishes, args.refresh)
    median = statistics.median(live)
    print(f"publish to live ({args.publishes} publishes, refresh {args.refresh} s): median {median:.2f} s, ", end="")
    print(f"min {min(live):.2f} s, max {max(live):.2f} s")
    preview = preview_seconds()
    print(f"preview of 1,000 sample profiles: median {statistics.median(preview):.2f} s")


if __name__ == "__main__":
    main()
