"""The `newsflow` command. Each subcommand imports what it needs, so `newsflow process` starts
fast and never touches Kafka."""
from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from .config import load as load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """newsflow: boilerplate stripping, syndication dedup and topic labels for news on Kafka."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("action", type=click.Choice(["start", "stop", "status"]))
@click.pass_context
def broker(ctx: click.Context, action: str) -> None:
    """Start, stop or show the local development Kafka broker (KRaft, one node, 127.0.0.1)."""
    from . import broker as broker_mod

    sys.exit(broker_mod.main([action, *ctx.args]))


@main.command()
def topics() -> None:
    """Create the service's topics (input, output, dead letter, internal, changelogs) or check them."""
    from .topology import ensure_topics, topic_specs

    settings = load_settings()
    created = on_kafka(settings, ensure_topics(settings))
    for name, (partitions, _config) in topic_specs(settings).items():
        state = "created" if name in created else "exists"
        click.echo(f"{state:8} {name} ({partitions} partitions)")


def on_kafka(settings: Any, coro: Any) -> Any:
    """Run a command's Kafka work; a broker error (none at the address, a topic laid out wrongly) is
    one line (exit 1), not a traceback."""
    import asyncio

    from aiokafka.errors import KafkaConnectionError

    from .broker import BrokerError, BrokerUnreachable

    try:
        return asyncio.run(coro)
    except KafkaConnectionError as exc:
        raise click.ClickException(str(BrokerUnreachable(settings.kafka_bootstrap, exc))) from None
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
def worker() -> None:
    """Run the Faust worker (agents, tables, web server with /metrics, /healthz, /readyz)."""
    from .app import run_worker

    run_worker(load_settings())


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--topic", default=None, help="Target topic (default: the raw topic).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Validate lines before sending; rejected lines are reported and not sent.")
def produce(files: tuple[str, ...], topic: str | None, check: bool) -> None:
    """Publish raw articles from JSONL files, with progress and a summary of accepted and rejected lines."""
    from .producer import produce_files

    settings = load_settings()
    summary = on_kafka(settings, produce_files(settings, files, topic or settings.topic_raw, check=check))
    click.echo(orjson.dumps(summary).decode(), err=True)
    if summary["sent"] == 0 and summary["lines"] > 0:
        sys.exit(1)


@main.command()
@click.argument("topic")
@click.option("--from-beginning/--latest", default=True, show_default=True)
@click.option("--max", "max_records", type=int, default=None, help="Stop after this many records.")
@click.option("--timeout", type=float, default=None, help="Stop after this many idle seconds.")
def tail(topic: str, from_beginning: bool, max_records: int | None, timeout: float | None) -> None:
    """Print a topic's records as JSON lines (key, partition, offset, value)."""
    from .producer import tail_topic

    settings = load_settings()
    on_kafka(settings, tail_topic(settings, topic, from_beginning, max_records, timeout))


@main.command()
@click.option("--input", "src", type=click.File("rb"), default="-", show_default=True)
# Opened when the first record is written: a bad input path fails before an output file is created.
@click.option("--output", "out", type=click.File("wb", lazy=True), default="-", show_default=True)
@click.option("--explain", is_flag=True, help="Add an 'explain' object to every record: why each topic scored.")
def process(src: Any, out: Any, explain: bool) -> None:
    """Batch mode: raw JSONL in, enriched JSONL out (stdin/stdout by default); no broker."""
    from .batch import BatchProcessor
    from .pipeline import Pipeline

    pipeline = Pipeline(load_settings())
    processor = BatchProcessor(pipeline)
    if explain:
        original = processor.process_record

        def with_explain(data: bytes):
            record = original(data)
            if isinstance(record, dict):
                record["explain"] = pipeline.classifier.explain(record["title"], record["text"])
            return record

        processor.process_record = with_explain  # type: ignore[method-assign]
    report = processor.run(src, out, sys.stderr)
    out.flush()
    click.echo(orjson.dumps(report.to_dict()).decode(), err=True)


@main.command()
@click.argument("file", type=click.File("rb"), default="-")
def explain(file: Any) -> None:
    """Why each topic scored as it did, for one raw article (JSON) given as FILE or on stdin."""
    from .pipeline import Pipeline
    from .records import Rejection

    data = file.read()
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) > 1 and all(line.lstrip().startswith(b"{") for line in lines):
        raise click.ClickException(f"explain reads one article; this is JSONL with {len(lines)} lines "
                                   "(use `newsflow process --explain` for many)")
    pipeline = Pipeline(load_settings())
    article = pipeline.admit(data.strip())
    if isinstance(article, Rejection):
        raise click.ClickException(f"{article.reason}: {article.detail}")
    analysed = pipeline.analyse(article)
    if isinstance(analysed, Rejection):
        raise click.ClickException(f"{analysed.reason}: {analysed.detail}")
    result = {"id": article.id, "title": article.title, "topics": analysed.topics,
              "explain": pipeline.classifier.explain(article.title, analysed.text)}
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@main.command()
@click.option("--articles", type=int, default=5000, show_default=True, help="Articles per measurement.")
@click.option("--skip-broker", is_flag=True, help="Only the batch-mode figures (no Kafka).")
def bench(articles: int, skip_broker: bool) -> None:
    """Measure throughput and latency; prints one JSON object (progress on stderr)."""
    from .bench import run_bench

    click.echo(orjson.dumps(run_bench(load_settings(), articles, skip_broker), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
