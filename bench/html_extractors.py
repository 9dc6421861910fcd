"""HTML main-text extractors side by side on one WARC: speed and a measure of quality.

Compares, in one run over the same pages: gristmill's `resiliparse`, `trafilatura` and `builtin`
extractors (pipeline.ingest.html_extract) and datatrove's `Trafilatura` extractor run the way
datatrove runs it (its `run()` over Documents, in its timeout sandbox, default settings).

Quality: every page of the sample WARC has a known main region -- Sphinx's
`<div role="main">` (Python docs) or the DocBook page without its `navheader`, `navfooter` and
`toc` (Debian Reference, Debian FAQ). Its words are the reference; an extractor's output is
scored by bag-of-words precision (how much of what it kept is main text) and recall (how much of
the main text it kept), averaged over pages.

Needs the benchmark environment (datatrove, trafilatura, resiliparse, lxml):

    ../benchenv/bin/python bench/html_extractors.py [WARC] [--samples FILE.md]
"""

from __future__ import annotations

import argparse
import platform
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from pipeline.ingest.html_extract import extract_text
from pipeline.ingest.html_pages import decode_html
from pipeline.ingest.warc import media_type_and_charset

DEFAULT_WARC = Path(__file__).resolve().parents[2] / "shared" / "data" / "web" / "docs.warc.gz"
WORD = re.compile(r"\w+", re.UNICODE)
SAMPLE_URLS = (
    "python3/library/asyncio.html",
    "debian-reference/ch01.en.html",
    "debian-faq/basic-defs.en.html",
    "python3/genindex-A.html",
)
SAMPLE_CHARS = 700


def read_pages(path: Path) -> list[tuple[str, str]]:
    pages = []
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type != "response" or record.http_headers.get_statuscode() != "200":
                continue
            media, charset = media_type_and_charset(record.http_headers.get_header("Content-Type"))
            if media != "text/html":
                continue
            html, _ = decode_html(record.content_stream().read(), charset)
            pages.append((record.rec_headers.get_header("WARC-Target-URI"), html))
    return pages


def reference_words(html: str) -> Counter[str] | None:
    """Words of the page's main region (None if the page has no known main region)."""
    import lxml.html

    root = lxml.html.fromstring(html.encode())
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    main = root.xpath('//div[@role="main"]')
    if main:
        region = main[0]
    else:
        body = root.xpath("//body")
        if not body:
            return None
        region = body[0]
        for nav in region.xpath('.//div[@class="navheader" or @class="navfooter" or @class="toc"]'):
            nav.drop_tree()
    return Counter(w.lower() for w in WORD.findall(region.text_content()))


def score(output: str, reference: Counter[str]) -> tuple[float, float]:
    got = Counter(w.lower() for w in WORD.findall(output))
    common = sum((got & reference).values())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(reference.values()) if reference else 0.0
    return precision, recall


def run_ours(name: str, pages: list[tuple[str, str]]) -> tuple[list[str], float]:
    extract_text("<p>warm up</p>", name)  # import the engine outside the timing
    started = time.perf_counter()
    outputs = [extract_text(html, name, url) for url, html in pages]
    return outputs, time.perf_counter() - started


def run_datatrove(pages: list[tuple[str, str]]) -> tuple[list[str], float, int]:
    from datatrove.data import Document
    from datatrove.pipeline.extractors import Trafilatura

    extractor = Trafilatura()  # datatrove's defaults: favour_precision, deduplicate, 1 s timeout
    docs = [Document(text=html, id=url) for url, html in pages]
    started = time.perf_counter()
    out = {doc.id: doc.text for doc in extractor.run(iter(docs))}
    seconds = time.perf_counter() - started
    return [out.get(url, "") for url, _ in pages], seconds, len(pages) - len(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warc", nargs="?", type=Path, default=DEFAULT_WARC)
    parser.add_argument(
        "--samples", type=Path, default=Path(__file__).with_name("html_extractor_samples.md")
    )
    args = parser.parse_args()
    pages = read_pages(args.warc)
    html_mb = sum(len(h.encode()) for _, h in pages) / 1e6
    references = [reference_words(html) for _, html in pages]
    print(
        f"{args.warc}: {len(pages)} HTML pages, {html_mb:.1f} MB of HTML; "
        f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    results: dict[str, tuple[list[str], float, int]] = {}
    for name in ("resiliparse", "trafilatura", "builtin"):
        outputs, seconds = run_ours(name, pages)
        results[f"gristmill {name}"] = (outputs, seconds, 0)
        print(f"  gristmill {name}: {seconds:.1f} s", flush=True)
    results["datatrove Trafilatura"] = run_datatrove(pages)
    print(f"  datatrove Trafilatura: {results['datatrove Trafilatura'][1]:.1f} s", flush=True)

    fastest = min(seconds for _, seconds, _ in results.values())
    print(
        "\n| extractor | pages/s | MB/s (HTML) | time vs fastest | empty or dropped "
        "| precision | recall | F1 | chars out |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (outputs, seconds, lost) in results.items():
        scored = [score(o, r) for o, r in zip(outputs, references, strict=True) if r]
        precision = sum(p for p, _ in scored) / len(scored)
        recall = sum(r for _, r in scored) / len(scored)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        empty = sum(1 for o in outputs if not o.strip())
        print(
            f"| {name} | {len(pages) / seconds:.1f} | {html_mb / seconds:.2f} | "
            f"{seconds / fastest:.1f}x | {empty} ({lost} timed out) | {precision:.3f} | "
            f"{recall:.3f} | {f1:.3f} | {sum(len(o) for o in outputs):,} |"
        )

    lines = [
        "# HTML extractor samples",
        "",
        f"The first {SAMPLE_CHARS} characters each extractor keeps of a few pages of "
        f"`{args.warc.name}` (written by `bench/html_extractors.py`).",
        "",
    ]
    for wanted in SAMPLE_URLS:
        index = next((i for i, (u, _) in enumerate(pages) if u.endswith(wanted)), None)
        if index is None:
            continue
        lines += [f"## {pages[index][0]}", ""]
        for name, (outputs, _, _) in results.items():
            excerpt = outputs[index][:SAMPLE_CHARS].rstrip() or "(nothing)"
            lines += [f"### {name}", "", "```text", excerpt, "```", ""]
    args.samples.write_text("\n".join(lines), encoding="utf-8")
    print(f"\nsamples: {args.samples}")


if __name__ == "__main__":
    main()
