"""Registration of the broker with every NameServer.

Mirrors ``org.apache.rocketmq.broker.out.BrokerOuterAPI.registerBrokerAll`` /
``unregisterBrokerAll``: REGISTER_BROKER goes to every NameServer in parallel with the
broker's whole topic table (``RegisterBrokerBody``: ``{"filterServerList":[],
"topicConfigSerializeWrapper":{"dataVersion":…,"topicConfigTable":…}}``, plain or
zlib-compressed with ``compressedRegister``) and ``bodyCrc32`` = CRC32 of the body &
0x7FFFFFFF, as the Java broker sends it; UNREGISTER_BROKER at shutdown. A NameServer
that does not answer is logged and tried again at the next registration.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import zlib
from typing import final

from rmq_protocol.codec.body import RegisterBrokerBody, TopicConfigSerializeWrapper
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
)
from rmq_protocol.errors import ProtocolError
from rmq_protocol.transport import RemotingClient

__all__ = ["BrokerIdentity", "NamesrvRegistrar", "RegisterResult"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BrokerIdentity:
    """What a broker registers as."""

    cluster_name: str
    broker_name: str
    broker_id: int
    broker_addr: str  # ip:port clients connect to
    ha_server_addr: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RegisterResult:
    """One NameServer's answer to REGISTER_BROKER."""

    namesrv: str
    ok: bool
    detail: str  # the error, or "" when ok
    master_addr: str | None = None
    ha_server_addr: str | None = None


@final
class NamesrvRegistrar:
    """Registers one broker with a list of NameServers, over its own client."""

    def __init__(
        self,
        identity: BrokerIdentity,
        namesrv_addrs: list[str],
        *,
        timeout: float,
        compressed: bool = False,
    ) -> None:
        self.identity = identity
        self.namesrv_addrs = list(namesrv_addrs)
        self._timeout = timeout
        self._compressed = compressed
        self._client = RemotingClient()
        self._registered = asyncio.Event()
        self.registrations = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    def _register_command(self, topics: TopicConfigSerializeWrapper) -> RemotingCommand:
        body = RegisterBrokerBody(topic_config_serialize_wrapper=topics).encode(
            compressed=self._compressed
        )
        ident = self.identity
        header = RegisterBrokerRequestHeader(
            broker_name=ident.broker_name,
            broker_addr=ident.broker_addr,
            cluster_name=ident.cluster_name,
            ha_server_addr=ident.ha_server_addr,
            broker_id=ident.broker_id,
            compressed=self._compressed,
            body_crc32=zlib.crc32(body) & 0x7FFFFFFF,
        )
        return RemotingCommand.request(RequestCode.REGISTER_BROKER, header, body=body)

    async def register_all(self, topics: TopicConfigSerializeWrapper) -> list[RegisterResult]:
        """REGISTER_BROKER to every NameServer at once; never raises for a NameServer's
        failure (it is in the result and the log)."""
        if not self.namesrv_addrs:
            return []
        command = self._register_command(topics)
        results = await asyncio.gather(*(self._register(a, command) for a in self.namesrv_addrs))
        self.registrations += 1
        self._registered.set()
        return list(results)

    async def wait_registrations(self, count: int, *, timeout: float) -> None:
        """Wait until ``count`` rounds of REGISTER_BROKER were sent in total.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self.registrations < count:
                self._registered.clear()
                await self._registered.wait()

    async def _register(self, address: str, command: RemotingCommand) -> RegisterResult:
        try:
            response = await self._client.request(address, command, timeout=self._timeout)
        except ProtocolError as exc:
            logger.warning("register broker to name server %s failed: %s", address, exc)
            return RegisterResult(namesrv=address, ok=False, detail=str(exc))
        if response.code != ResponseCode.SUCCESS:
            detail = f"code {response.code}: {response.remark}"
            logger.warning("register broker to name server %s refused: %s", address, detail)
            return RegisterResult(namesrv=address, ok=False, detail=detail)
        header = response.decode_header(RegisterBrokerResponseHeader)
        logger.debug("registered broker to name server %s", address)
        return RegisterResult(
            namesrv=address,
            ok=True,
            detail="",
            master_addr=header.master_addr,
            ha_server_addr=header.ha_server_addr,
        )

    async def unregister_all(self) -> None:
        """UNREGISTER_BROKER to every NameServer (errors are logged)."""
        ident = self.identity
        command = RemotingCommand.request(
            RequestCode.UNREGISTER_BROKER,
            UnRegisterBrokerRequestHeader(
                broker_name=ident.broker_name,
                broker_addr=ident.broker_addr,
                cluster_name=ident.cluster_name,
                broker_id=ident.broker_id,
            ),
        )

        async def one(address: str) -> None:
            try:
                response = await self._client.request(address, command, timeout=self._timeout)
            except ProtocolError as exc:
                logger.warning("unregister broker from name server %s failed: %s", address, exc)
                return
            if response.code != ResponseCode.SUCCESS:
                logger.warning(
                    "unregister broker from name server %s refused: code %d %s",
                    address, response.code, response.remark,
                )  # fmt: skip
            else:
                logger.info("unregistered broker from name server %s", address)

        await asyncio.gather(*(one(a) for a in self.namesrv_addrs))
