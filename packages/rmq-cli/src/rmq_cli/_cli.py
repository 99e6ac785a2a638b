"""The ``rmq`` command: argument parsing, logging set-up, signals, exit codes.

``rmq namesrv`` and ``rmq broker`` take the options of RocketMQ's ``mqnamesrv`` and
``mqbroker`` (``-c`` config file, ``-n`` NameServer addresses, ``-p`` print the config and
exit); ``rmq standalone`` runs both in one process (see :mod:`rmq_cli._standalone`). The
servers are :func:`rmq_namesrv.run_namesrv` and :func:`rmq_broker.run_broker`; this module
only turns a command line into their configuration and runs them until a signal.

Exit codes: 0 after a graceful stop (or ``-p``), 1 when a server cannot start or fails,
2 for a usage or configuration error, 128 + the signal's number when a second SIGINT or
SIGTERM cuts the graceful shutdown short.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Final

from rmq_broker import (
    Broker,
    BrokerError,
    BrokerSettings,
    load_broker_settings,
    run_broker,
)
from rmq_cli._consume import add_consume_parser, consume
from rmq_cli._produce import add_produce_parser, produce
from rmq_cli._standalone import (
    DEFAULT_BROKER_PORT,
    DEFAULT_NAMESRV_PORT,
    StandaloneConfig,
    load_standalone_config,
    run_standalone,
)
from rmq_cli._version import __version__
from rmq_namesrv import NameServer, NamesrvConfig, NamesrvError, load_namesrv_config, run_namesrv
from rmq_protocol.config import config_to_properties
from rmq_protocol.errors import ConfigError
from rmq_protocol.transport import run, serve_until_signalled, uvloop_available
from rmq_store import StoreError

__all__ = ["main"]

logger = logging.getLogger("rmq_cli")

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# ---------------------------------------------------------------------- arguments


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0..65535; 0 = any free)")
    return port


def _parser() -> argparse.ArgumentParser:
    # -v is accepted before and after the command; SUPPRESS keeps a subcommand's
    # default from overwriting a -v given before it.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log at DEBUG level (default INFO), to stderr",
    )
    print_config = argparse.ArgumentParser(add_help=False)
    print_config.add_argument(
        "-p",
        "--printConfigItem",
        dest="print_config",
        action="store_true",
        help="print all config items and exit",
    )

    parser = argparse.ArgumentParser(
        prog="rmq",
        description="Run rmq (Apache RocketMQ in Python): a NameServer, a Broker, or both.",
        parents=[verbose],
    )
    parser.add_argument("--version", action="version", version=f"rmq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    namesrv = commands.add_parser(
        "namesrv",
        parents=[verbose, print_config],
        help="run a NameServer (as mqnamesrv)",
        description="Run a NameServer, as RocketMQ's mqnamesrv: 0.0.0.0:9876, files under "
        "~/namesrv unless the config file says otherwise.",
    )
    namesrv.add_argument(
        "-c",
        "--configFile",
        dest="config_file",
        metavar="FILE",
        help="NameServer config file (.properties/.toml)",
    )

    broker = commands.add_parser(
        "broker",
        parents=[verbose, print_config],
        help="run a Broker (as mqbroker)",
        description="Run a Broker, as RocketMQ's mqbroker: 0.0.0.0:10911, store in ~/store "
        "unless the config file says otherwise.",
    )
    broker.add_argument(
        "-c",
        "--configFile",
        dest="config_file",
        metavar="FILE",
        help="Broker config file (.properties/.toml)",
    )
    broker.add_argument(
        "-n",
        "--namesrvAddr",
        dest="namesrv_addr",
        metavar="ADDRS",
        help="NameServer address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'",
    )

    standalone = commands.add_parser(
        "standalone",
        parents=[verbose, print_config],
        help="run a NameServer and a Broker in one process",
        description="Run a NameServer and a Broker registered with it in one process, on "
        f"127.0.0.1:{DEFAULT_NAMESRV_PORT} and 127.0.0.1:{DEFAULT_BROKER_PORT}, with files "
        "under ~/.rmq (store/ and namesrv/). Ctrl-C or SIGTERM stops it gracefully; a "
        "second one exits at once.",
    )
    standalone.add_argument(
        "-c",
        "--configFile",
        dest="config_file",
        metavar="FILE",
        help="Broker config file (.properties/.toml); its bindAddress applies to both servers",
    )
    standalone.add_argument(
        "--namesrv-port",
        type=_port,
        default=None,
        metavar="PORT",
        help=f"NameServer port (default {DEFAULT_NAMESRV_PORT}; 0 = any free port)",
    )
    standalone.add_argument(
        "--broker-port",
        type=_port,
        default=None,
        metavar="PORT",
        help=f"Broker port, over the file's listenPort (default {DEFAULT_BROKER_PORT}; "
        "0 = any free port)",
    )
    standalone.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="data directory, over the file's storePathRootDir (default ~/.rmq): the "
        "store goes in DATA_DIR/store, the NameServer's files in DATA_DIR/namesrv",
    )
    add_produce_parser(commands, [verbose])
    add_consume_parser(commands, [verbose])
    # `rmq admin ...` is dispatched in main() before this parser runs (rmq_cli.admin
    # parses its own commands); listed here for `rmq --help`.
    commands.add_parser(
        "admin",
        add_help=False,
        help="RocketMQ's mqadmin commands (rmq admin --help lists them)",
    )
    return parser


# ---------------------------------------------------------------------- running


def _configure_logging(*, verbose: bool) -> None:
    """Log to stderr (the CLI is the one place handlers are configured)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def _say(line: str) -> None:
    """A line on stdout (what the command reports, as mqnamesrv/mqbroker print it)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _serve(serve: Callable[[], Coroutine[Any, Any, None]]) -> int:
    logger.info("rmq %s on %s", __version__, "uvloop" if uvloop_available() else "asyncio")
    try:
        run(serve_until_signalled(serve(), name="rmq"))
    except (NamesrvError, BrokerError, StoreError, OSError) as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return EXIT_FAILED
    return EXIT_OK


def _items(*configs: object) -> list[str]:
    items: dict[str, str] = {}
    for config in configs:
        items.update(config_to_properties(config))
    return [f"{key}={value}" for key, value in sorted(items.items())]


def _print_items(*configs: object) -> None:
    for line in _items(*configs):
        _say(line)


def _log_config(what: str, *configs: object) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s configuration: %s", what, ", ".join(_items(*configs)))


# ---------------------------------------------------------------------- commands


def _namesrv(args: argparse.Namespace) -> int:
    config = load_namesrv_config(args.config_file) if args.config_file else NamesrvConfig()
    if args.print_config:
        _print_items(config)
        return EXIT_OK

    def announce(namesrv: NameServer) -> None:
        _say(f"The Name Server boot success. address {namesrv.address}")

    _log_config("NameServer", config)
    return _serve(lambda: run_namesrv(config, started=announce))


def _broker(args: argparse.Namespace) -> int:
    if args.config_file:
        settings = load_broker_settings(args.config_file, namesrv_addr=args.namesrv_addr)
    else:
        settings = BrokerSettings()
        if args.namesrv_addr is not None:
            broker = dataclasses.replace(settings.broker, namesrv_addr=args.namesrv_addr)
            settings = dataclasses.replace(settings, broker=broker)
    if args.print_config:
        _print_items(settings.broker, settings.store)
        return EXIT_OK

    def announce(broker: Broker) -> None:
        config = broker.settings.broker
        _say(
            f"The broker[{config.broker_name}, {broker.address}] boot success. "
            f"serializeType=JSON and name server is {config.namesrv_addr}"
        )

    _log_config("Broker", settings.broker, settings.store)
    return _serve(lambda: run_broker(settings, started=announce))


def _standalone(args: argparse.Namespace) -> int:
    config = load_standalone_config(
        args.config_file,
        data_dir=args.data_dir,
        namesrv_port=args.namesrv_port,
        broker_port=args.broker_port,
    )
    if args.print_config:
        _say(f"# NameServer (files in {config.namesrv.kv_config_path.parent})")
        _print_items(config.namesrv)
        _say(f"# Broker (store in {config.broker.store.store_path_root_dir})")
        _print_items(config.broker.broker, config.broker.store)
        return EXIT_OK
    _log_config("NameServer", config.namesrv)
    _log_config("Broker", config.broker.broker, config.broker.store)
    code = _serve(lambda: run_standalone(config, started=_announce_standalone(config)))
    if code == EXIT_OK:
        _say("rmq standalone: stopped")
    return code


def _announce_standalone(config: StandaloneConfig) -> Callable[[NameServer, Broker], None]:
    def announce(namesrv: NameServer, broker: Broker) -> None:
        settings = broker.settings
        _say(f"rmq standalone: NameServer listening on {namesrv.address}")
        _say(
            f"rmq standalone: Broker {settings.broker.broker_name} "
            f"(cluster {settings.broker.broker_cluster_name}) listening on {broker.address}, "
            f"registered with {settings.broker.namesrv_addr}"
        )
        _say(f"rmq standalone: message store in {settings.store.store_path_root_dir}")
        _say(f"rmq standalone: NameServer files in {config.namesrv.kv_config_path.parent}")
        _say(
            f"rmq standalone: ready; clients use namesrvAddr={settings.broker.namesrv_addr}. "
            "Stop with Ctrl-C or SIGTERM (a second one exits at once)."
        )

    return announce


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "namesrv": _namesrv,
    "broker": _broker,
    "standalone": _standalone,
    "produce": produce,
    "consume": consume,
}


def main(argv: Sequence[str] | None = None) -> int:
    """The ``rmq`` console script: run ``rmq --help`` for the commands.

    Returns:
        The exit code (see the module docstring).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["admin"]:
        from rmq_cli.admin import main as admin_main

        return admin_main(argv[1:])
    args = _parser().parse_args(argv)
    _configure_logging(verbose=getattr(args, "verbose", False))
    try:
        return _COMMANDS[args.command](args)
    except ConfigError as exc:
        sys.stderr.write(f"ConfigError: {exc}\n")
        return EXIT_USAGE
