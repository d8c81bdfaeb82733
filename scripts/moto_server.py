#!/usr/bin/env python3
"""Serve moto's AWS mock (DynamoDB and friends) over HTTP, one request at a time.

moto's own ``moto_server`` command handles each request on its own thread,
but moto's in-memory backends take no locks.  Under concurrent load that
breaks the very guarantees the order pipeline relies on: conditional writes
and TransactWriteItems stop being atomic (two reservations can both pass a
stock check and oversell), and iterating a table while another request
inserts into it fails with HTTP 500 "dictionary changed size during
iteration".  Serving requests strictly one after another makes every API
call atomic, which is what DynamoDB promises and what our tests assert.

Without threads werkzeug speaks HTTP/1.0 and closes each connection after
its response, so an idle keep-alive connection from one SDK client can
never starve the others.

One fix to moto's DynamoDB Streams: moto applies a TransactWriteItems
write by write, stream records included, and when one write fails it puts
the tables back from copies taken before the transaction.  A shard
iterator keeps the table object it was taken on, so an iterator handed out
before a failed transaction read on in a discarded table: it never saw a
later change, and it did see the records of the failed transaction's
writes, changes that never happened.  DynamoDB never shows a failed
transaction's writes on a stream.  ``read_the_current_table`` makes every
GetRecords read the table as it is now; the stream mapping emulator's tests
(shared/emulators/tests/streams.rs) pin it.

Usage: moto_server.py [--host 127.0.0.1] [--port 4566]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from types import FrameType

import moto
from moto.dynamodbstreams import models as streams_models
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, run_simple

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566


class QuietRequestHandler(WSGIRequestHandler):
    """Logs only failed requests.

    A test run makes tens of thousands of calls; an access-log line for
    each would bury the few lines that matter.  4xx answers are routine
    here (a failed ConditionExpression is a 400), so only server-side
    failures are worth a line.
    """

    # With a single worker, a client that connects and then sends nothing
    # holds up every other client; this bounds how long.
    timeout = 30

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith("5"):
            super().log_request(code, size)


class StripAnsiFilter(logging.Filter):
    """Drops the colour codes werkzeug adds, which only clutter a log file."""

    _ANSI = re.compile(r"\x1b\[[0-9;]*m")

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._ANSI.sub("", record.getMessage())
        record.args = None
        return True


def read_the_current_table() -> None:
    """Makes a shard iterator read the stream of the table as it is now (see above)."""
    original_get = streams_models.ShardIterator.get

    def get(self: streams_models.ShardIterator, limit: int = 1000) -> dict:
        current = self.streams_backend.dynamodb.tables.get(self.stream_shard.table.name)
        if current is not None and current.stream_shard is not None:
            self.stream_shard = current.stream_shard
        return original_get(self, limit)

    streams_models.ShardIterator.get = get


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    # Leave through SystemExit so the listening socket is closed and the
    # exit status reads as a clean shutdown rather than a crash.
    sys.exit(0)


def port_number(text: str) -> int:
    # werkzeug would quietly bind 99999 as 99999 % 65536.
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (1-65535)")
    return port


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port to bind (default {DEFAULT_PORT})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    # moto builds resource URLs (SQS queue URLs, presigned S3 links, ...)
    # from MOTO_PORT; keep them pointing at this server.
    os.environ["MOTO_PORT"] = str(args.port)

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(StripAnsiFilter())
    logging.getLogger(__name__).info(
        "moto %s on %s:%d, serving one request at a time",
        moto.__version__,
        args.host,
        args.port,
    )

    read_the_current_table()
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        app,
        threaded=False,
        processes=1,
        request_handler=QuietRequestHandler,
    )


if __name__ == "__main__":
    main()
