"""``python -m rmq_broker -c broker.conf [-n host:port;host:port] [-p]``: run a broker.

Mirrors ``org.apache.rocketmq.broker.BrokerStartup`` (``mqbroker``): ``-c`` reads a
config file (properties or TOML; broker and store keys together; unknown keys are
errors), ``-n`` sets the NameServer addresses (over the file's ``namesrvAddr``), ``-p``
prints every config item and exits. The first SIGINT/SIGTERM shuts down gracefully; a
second exits at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from rmq_broker.broker import Broker, run_broker
from rmq_broker.config import BrokerSettings, load_broker_settings
from rmq_broker.errors import BrokerError
from rmq_protocol.config import config_to_properties
from rmq_protocol.errors import ConfigError
from rmq_protocol.transport import run, serve_until_signalled
from rmq_store import StoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rmq_broker", description=__doc__)
    parser.add_argument(
        "-c", "--configFile", dest="config_file", help="Broker config properties file"
    )
    parser.add_argument(
        "-n",
        "--namesrvAddr",
        dest="namesrv_addr",
        help="Name server address list, eg: '192.168.0.1:9876;192.168.0.2:9876'",
    )
    parser.add_argument(
        "-p",
        "--printConfigItem",
        dest="print_config",
        action="store_true",
        help="Print all config items",
    )
    return parser


def _announce(broker: Broker) -> None:
    config = broker.settings.broker
    sys.stdout.write(
        f"The broker[{config.broker_name}, {broker.address}] boot success. "
        f"serializeType=JSON and name server is {config.namesrv_addr}\n"
    )
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.config_file:
            settings = load_broker_settings(args.config_file, namesrv_addr=args.namesrv_addr)
        else:
            settings = BrokerSettings()
            if args.namesrv_addr is not None:
                broker = dataclasses.replace(settings.broker, namesrv_addr=args.namesrv_addr)
                settings = dataclasses.replace(settings, broker=broker)
    except ConfigError as exc:
        sys.stderr.write(f"ConfigError: {exc}\n")
        return 2
    if args.print_config:
        items = {**config_to_properties(settings.broker), **config_to_properties(settings.store)}
        for key, value in sorted(items.items()):
            sys.stdout.write(f"{key}={value}\n")
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        run(serve_until_signalled(run_broker(settings, started=_announce), name="rmq_broker"))
    except ConfigError as exc:  # brokerConfigUpdates.properties (UPDATE_BROKER_CONFIG)
        sys.stderr.write(f"ConfigError: {exc}\n")
        return 2
    except (BrokerError, StoreError, OSError) as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
