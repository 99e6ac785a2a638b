"""``python -m rmq_namesrv [-c namesrv.properties] [-p]``: run a NameServer.

Mirrors ``org.apache.rocketmq.namesrv.NamesrvStartup`` (``mqnamesrv``): ``-c`` reads a
config file (properties or TOML; unknown keys are errors), ``-p`` prints every config
item and exits. The first SIGINT/SIGTERM shuts down gracefully; a second exits at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from rmq_namesrv.config import NamesrvConfig, load_namesrv_config
from rmq_namesrv.errors import NamesrvError
from rmq_namesrv.server import NameServer, run_namesrv
from rmq_protocol.config import config_to_properties
from rmq_protocol.errors import ConfigError
from rmq_protocol.transport import run, serve_until_signalled


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rmq_namesrv", description=__doc__)
    parser.add_argument(
        "-c", "--configFile", dest="config_file", help="Name server config properties file"
    )
    parser.add_argument(
        "-p",
        "--printConfigItem",
        dest="print_config",
        action="store_true",
        help="Print all config items",
    )
    return parser


def _announce(namesrv: NameServer) -> None:
    sys.stdout.write(f"The Name Server boot success. address {namesrv.address}\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_namesrv_config(args.config_file) if args.config_file else NamesrvConfig()
    except ConfigError as exc:
        sys.stderr.write(f"ConfigError: {exc}\n")
        return 2
    if args.print_config:
        for key, value in sorted(config_to_properties(config).items()):
            sys.stdout.write(f"{key}={value}\n")
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        run(serve_until_signalled(run_namesrv(config, started=_announce), name="rmq_namesrv"))
    except (NamesrvError, OSError) as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
