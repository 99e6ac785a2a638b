"""Request handling of the NameServer: one method per request code.

Mirrors ``org.apache.rocketmq.namesrv.processor.DefaultRequestProcessor`` (brokers and
admin tools) and ``ClientRequestProcessor`` (GET_ROUTEINFO_BY_TOPIC): the same codes,
response codes and remarks. Codes it does not handle are answered by the transport with
REQUEST_CODE_NOT_SUPPORTED and Java's remark (``" request type N not supported"``); a
header that lacks a required field is answered SYSTEM_ERROR with the reason.

Handlers that change persisted state (KV config, namesrv config) are coroutines: the
change is made at once on the event loop, then the file is written in a thread, one
write at a time (each write takes the latest state), and the response waits for it.

Routes are always written as standard JSON with quoted ``brokerAddrs`` keys: Java does
so for clients from V4_9_4 on (or asking ``acceptStandardJsonOnly``) and writes
fastjson's unquoted ``{0:"…"}`` to older ones; every client parses the standard form
(spec §5.1 recommends it), so rmq writes it to all.

Not safe for concurrent use from several threads: it runs on the NameServer's loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, final

from rmq_namesrv.config import NamesrvConfig
from rmq_namesrv.errors import UnsupportedFeatureError
from rmq_namesrv.kv_config import NAMESPACE_ORDER_TOPIC_CONFIG, KVConfigManager, write_atomically
from rmq_namesrv.route_info import RouteInfoManager
from rmq_protocol.codec.body import (
    DataVersion,
    RegisterBrokerBody,
    TopicConfigSerializeWrapper,
    TopicRouteData,
    decode_properties_text,
    encode_properties_text,
)
from rmq_protocol.codec.codes import RequestCode, ResponseCode
from rmq_protocol.codec.command import RemotingCommand
from rmq_protocol.codec.headers import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    BrokerHeartbeatRequestHeader,
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    RegisterTopicRequestHeader,
    UnRegisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)
from rmq_protocol.codec.version import mq_version
from rmq_protocol.config import ConfigSource, config_to_properties, config_to_toml
from rmq_protocol.errors import ConfigError, RemoteProtocolError
from rmq_protocol.transport import Connection, ProcessorRegistry

__all__ = ["DefaultRequestProcessor", "check_supported", "render_config_file"]

logger = logging.getLogger(__name__)

FAQ_URL: Final = "https://rocketmq.apache.org/docs/bestPractice/06FAQ"  # FAQUrl.APPLY_TOPIC_URL
V3_0_11: Final = 22  # MQVersion ordinal: from it on, REGISTER_BROKER carries RegisterBrokerBody
V4_9_4: Final = mq_version(4, 9, 4)

_Handler = Callable[[RemotingCommand, Connection], RemotingCommand | Awaitable[RemotingCommand]]


def topic_not_exist_remark(topic: str) -> str:
    """Java's TOPIC_NOT_EXIST remark (ali-ons shows it as the error message)."""
    return (
        f"No topic route info in name server for the topic: {topic}"
        f"\nSee {FAQ_URL} for further details."
    )


def check_supported(config: NamesrvConfig) -> None:
    """Refuse configurations that turn on what rmq-namesrv does not implement.

    Raises:
        UnsupportedFeatureError: ``enableControllerInNamesrv`` is on.
    """
    if config.enable_controller_in_namesrv:
        raise UnsupportedFeatureError(
            "enableControllerInNamesrv", "the embedded DLedger/JRaft controller"
        )


def render_config_file(config: NamesrvConfig, path: Path) -> bytes:
    """The content UPDATE_NAMESRV_CONFIG writes to ``configStorePath``: every key, as
    flat TOML for a ``.toml`` path, else as Java properties sorted by key (as Java's
    ``Configuration.persist`` writes them)."""
    if path.suffix.lower() == ".toml":
        return config_to_toml(config).encode("utf-8")
    return encode_properties_text(dict(sorted(config_to_properties(config).items())))


@final
class DefaultRequestProcessor:
    """The NameServer's handlers, registered by :meth:`register`.

    A handler returns the response; it raises only for a malformed header
    (:class:`~rmq_protocol.errors.InvalidHeaderError`), which the transport answers
    SYSTEM_ERROR. Everything else (bad bodies, failed writes) is answered with a code.

    Attributes:
        config: the configuration in force (UPDATE_NAMESRV_CONFIG replaces it).
        routes: the route tables.
        kv: the KV config.
    """

    def __init__(
        self,
        config: NamesrvConfig,
        *,
        routes: RouteInfoManager,
        kv: KVConfigManager,
        clock: Callable[[], int],
    ) -> None:
        self.config = config
        self.routes = routes
        self.kv = kv
        self._clock = clock
        self._started_ms = clock()
        self._kv_write_lock = asyncio.Lock()
        self._config_write_lock = asyncio.Lock()

    def register(self, registry: ProcessorRegistry) -> None:
        """Register a handler for every code the NameServer answers."""
        handlers: dict[RequestCode, _Handler] = {
            RequestCode.PUT_KV_CONFIG: self.put_kv_config,
            RequestCode.GET_KV_CONFIG: self.get_kv_config,
            RequestCode.DELETE_KV_CONFIG: self.delete_kv_config,
            RequestCode.GET_KVLIST_BY_NAMESPACE: self.get_kv_list_by_namespace,
            RequestCode.QUERY_DATA_VERSION: self.query_data_version,
            RequestCode.REGISTER_BROKER: self.register_broker,
            RequestCode.UNREGISTER_BROKER: self.unregister_broker,
            RequestCode.BROKER_HEARTBEAT: self.broker_heartbeat,
            RequestCode.GET_ROUTEINFO_BY_TOPIC: self.get_route_info_by_topic,
            RequestCode.GET_BROKER_CLUSTER_INFO: self.get_broker_cluster_info,
            RequestCode.WIPE_WRITE_PERM_OF_BROKER: self.wipe_write_perm_of_broker,
            RequestCode.ADD_WRITE_PERM_OF_BROKER: self.add_write_perm_of_broker,
            RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER: self.get_all_topic_list,
            RequestCode.DELETE_TOPIC_IN_NAMESRV: self.delete_topic_in_namesrv,
            RequestCode.REGISTER_TOPIC_IN_NAMESRV: self.register_topic_in_namesrv,
            RequestCode.GET_TOPICS_BY_CLUSTER: self.get_topics_by_cluster,
            RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS: self.get_system_topic_list,
            RequestCode.GET_UNIT_TOPIC_LIST: self.get_unit_topic_list,
            RequestCode.GET_HAS_UNIT_SUB_TOPIC_LIST: self.get_has_unit_sub_topic_list,
            RequestCode.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: (
                self.get_has_unit_sub_un_unit_topic_list
            ),
            RequestCode.UPDATE_NAMESRV_CONFIG: self.update_namesrv_config,
            RequestCode.GET_NAMESRV_CONFIG: self.get_namesrv_config,
        }
        for code, handler in handlers.items():
            registry.register(code, handler)

    # ------------------------------------------------------------------ KV config

    async def put_kv_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """PUT_KV_CONFIG (100): set namespace/key = value and persist.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(PutKVConfigRequestHeader)
        self.kv.put(header.namespace, header.key, header.value)
        return await self._persist_kv(request)

    def get_kv_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """GET_KV_CONFIG (101): the value, or QUERY_NOT_FOUND.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(GetKVConfigRequestHeader)
        value = self.kv.get(header.namespace, header.key)
        if value is None:
            return RemotingCommand.response_to(
                request,
                ResponseCode.QUERY_NOT_FOUND,
                f"No config item, Namespace: {header.namespace} Key: {header.key}",
            )
        return RemotingCommand.response_to(request, header=GetKVConfigResponseHeader(value=value))

    async def delete_kv_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """DELETE_KV_CONFIG (102): remove namespace/key (absent is fine) and persist.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(DeleteKVConfigRequestHeader)
        self.kv.delete(header.namespace, header.key)
        return await self._persist_kv(request)

    def get_kv_list_by_namespace(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """GET_KVLIST_BY_NAMESPACE (219): the namespace as a KVTable, or QUERY_NOT_FOUND.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(GetKVListByNamespaceRequestHeader)
        table = self.kv.get_kv_list_by_namespace(header.namespace)
        if table is None:
            return RemotingCommand.response_to(
                request,
                ResponseCode.QUERY_NOT_FOUND,
                f"No config item, Namespace: {header.namespace}",
            )
        return RemotingCommand.response_to(request, body=table.to_json())

    async def _persist_kv(self, request: RemotingCommand) -> RemotingCommand:
        path = self.config.kv_config_path
        async with self._kv_write_lock:
            data = self.kv.to_json()  # the latest state, taken under the lock
            try:
                await asyncio.to_thread(write_atomically, path, data)
            except OSError as exc:
                logger.error("cannot persist the KV config to %s: %s", path, exc)
                return RemotingCommand.response_to(
                    request,
                    ResponseCode.SYSTEM_ERROR,
                    f"KV config changed in memory but not written to {path}: {exc}",
                )
        return RemotingCommand.response_to(request)

    # ------------------------------------------------------------------ brokers

    def register_broker(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """REGISTER_BROKER (103): check the body CRC, decode it, update the tables.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(RegisterBrokerRequestHeader)
        body = bytes(request.body)
        if header.body_crc32 != 0:
            crc = zlib.crc32(body) & 0x7FFFFFFF
            if crc != header.body_crc32:
                logger.warning(
                    "REGISTER_BROKER from %s (%s at %s): body crc32 %d, header says %d",
                    conn.peer,
                    header.broker_name,
                    header.broker_addr,
                    crc,
                    header.body_crc32,
                )
                return RemotingCommand.response_to(
                    request, ResponseCode.SYSTEM_ERROR, "crc32 not match"
                )
        filter_servers: tuple[str, ...] | None
        try:
            if request.version >= V3_0_11:
                decoded = RegisterBrokerBody.decode(body) if body else RegisterBrokerBody()
                wrapper = decoded.topic_config_serialize_wrapper
                filter_servers = decoded.filter_server_list
            else:  # before 3.0.11 the body was the topic wrapper alone
                wrapper = (
                    TopicConfigSerializeWrapper.from_json(body)
                    if body
                    else TopicConfigSerializeWrapper()
                )
                filter_servers = None
        except RemoteProtocolError as exc:
            logger.warning(
                "REGISTER_BROKER from %s (%s at %s): bad body: %s",
                conn.peer,
                header.broker_name,
                header.broker_addr,
                exc,
            )
            return RemotingCommand.response_to(
                request, ResponseCode.SYSTEM_ERROR, f"Failed to decode RegisterBrokerBody: {exc}"
            )
        result = self.routes.register_broker(
            cluster_name=header.cluster_name,
            broker_addr=header.broker_addr,
            broker_name=header.broker_name,
            broker_id=header.broker_id,
            ha_server_addr=header.ha_server_addr,
            zone_name=header.zone_name,
            timeout_millis=header.heartbeat_timeout_millis,
            enable_acting_master=header.enable_acting_master,
            topic_config_wrapper=wrapper,
            filter_server_list=filter_servers,
            channel=conn,
        )
        if result is None:
            return RemotingCommand.response_to(
                request, ResponseCode.SYSTEM_ERROR, "register broker failed"
            )
        body_out = b""
        if self.config.return_order_topic_config_to_broker:
            table = self.kv.get_kv_list_by_namespace(NAMESPACE_ORDER_TOPIC_CONFIG)
            if table is not None:
                body_out = table.to_json()
        return RemotingCommand.response_to(
            request,
            header=RegisterBrokerResponseHeader(
                ha_server_addr=result.ha_server_addr, master_addr=result.master_addr
            ),
            body=body_out,
        )

    def unregister_broker(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """UNREGISTER_BROKER (104).

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(UnRegisterBrokerRequestHeader)
        self.routes.unregister_broker(
            header.cluster_name, header.broker_addr, header.broker_name, header.broker_id
        )
        return RemotingCommand.response_to(request)

    def broker_heartbeat(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """BROKER_HEARTBEAT (904, 5.x): refresh a registered broker's liveness.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(BrokerHeartbeatRequestHeader)
        self.routes.update_broker_info_update_timestamp(header.cluster_name, header.broker_addr)
        return RemotingCommand.response_to(request)

    def query_data_version(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """QUERY_DATA_VERSION (322): did the broker's topics change since it registered?

        Also refreshes its liveness; the body of the answer is the DataVersion the
        NameServer holds for it, if any.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(QueryDataVersionRequestHeader)
        try:
            version = DataVersion.from_json(request.body) if len(request.body) else None
        except RemoteProtocolError as exc:
            return _bad_body(request, conn, "DataVersion", exc)
        cluster, addr = header.cluster_name, header.broker_addr
        held = self.routes.query_broker_topic_config(cluster, addr)
        changed = version is None or held is None or held != version
        self.routes.update_broker_info_update_timestamp(cluster, addr)
        return RemotingCommand.response_to(
            request,
            header=QueryDataVersionResponseHeader(changed=changed),
            body=held.to_json() if held is not None else b"",
        )

    def wipe_write_perm_of_broker(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """WIPE_WRITE_PERM_OF_BROKER (205): make a broker's queues read-only.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(WipeWritePermOfBrokerRequestHeader)
        count = self.routes.wipe_write_perm_of_broker(header.broker_name)
        logger.info(
            "write permission of broker %s wiped by %s: %d topics",
            header.broker_name,
            conn.peer,
            count,
        )
        return RemotingCommand.response_to(
            request, header=WipeWritePermOfBrokerResponseHeader(wipe_topic_count=count)
        )

    def add_write_perm_of_broker(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """ADD_WRITE_PERM_OF_BROKER (327): make a broker's queues read-write again.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(AddWritePermOfBrokerRequestHeader)
        count = self.routes.add_write_perm_of_broker(header.broker_name)
        logger.info(
            "write permission of broker %s added by %s: %d topics",
            header.broker_name,
            conn.peer,
            count,
        )
        return RemotingCommand.response_to(
            request, header=AddWritePermOfBrokerResponseHeader(add_topic_count=count)
        )

    # ------------------------------------------------------------------ routes

    def get_route_info_by_topic(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """GET_ROUTEINFO_BY_TOPIC (105): the topic's route, or TOPIC_NOT_EXIST.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(GetRouteInfoRequestHeader)
        config = self.config
        if (
            config.need_wait_for_service
            and self._clock() - self._started_ms < config.wait_seconds_for_service * 1000
        ):
            logger.warning("GET_ROUTEINFO_BY_TOPIC from %s: not ready yet", conn.peer)
            return RemotingCommand.response_to(
                request, ResponseCode.SYSTEM_ERROR, "name server not ready"
            )
        route = self.routes.pickup_topic_route_data(header.topic)
        if route is None:
            logger.debug("GET_ROUTEINFO_BY_TOPIC %s from %s: no route", header.topic, conn.peer)
            return RemotingCommand.response_to(
                request, ResponseCode.TOPIC_NOT_EXIST, topic_not_exist_remark(header.topic)
            )
        if config.order_message_enable:
            route = _with_order_conf(route, self.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, header.topic))
        logger.debug(
            "GET_ROUTEINFO_BY_TOPIC %s from %s: %d brokers",
            header.topic,
            conn.peer,
            len(route.broker_datas),
        )
        return RemotingCommand.response_to(request, body=route.to_json())

    def get_broker_cluster_info(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """GET_BROKER_CLUSTER_INFO (106)."""
        return RemotingCommand.response_to(
            request, body=self.routes.get_all_cluster_info().to_json()
        )

    def get_all_topic_list(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206); SYSTEM_ERROR "disable" when
        ``enableAllTopicList`` is off."""
        if not self.config.enable_all_topic_list:
            return RemotingCommand.response_to(request, ResponseCode.SYSTEM_ERROR, "disable")
        return RemotingCommand.response_to(request, body=self.routes.get_all_topic_list().to_json())

    def delete_topic_in_namesrv(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """DELETE_TOPIC_IN_NAMESRV (216): everywhere, or in ``clusterName`` only.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(DeleteTopicFromNamesrvRequestHeader)
        self.routes.delete_topic(header.topic, header.cluster_name)
        return RemotingCommand.response_to(request)

    def register_topic_in_namesrv(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """REGISTER_TOPIC_IN_NAMESRV (217): the body's queue datas for known brokers.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        header = request.decode_header(RegisterTopicRequestHeader)
        if len(request.body):
            try:
                route = TopicRouteData.from_json(request.body)
            except RemoteProtocolError as exc:
                return _bad_body(request, conn, "TopicRouteData", exc)
            self.routes.register_topic(header.topic, route.queue_datas)
        return RemotingCommand.response_to(request)

    def get_topics_by_cluster(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """GET_TOPICS_BY_CLUSTER (224); "disable" when ``enableTopicList`` is off.

        Raises:
            InvalidHeaderError: a required header field is missing or malformed (the
                transport answers SYSTEM_ERROR with the reason, as Java does).
        """
        if not self.config.enable_topic_list:
            return RemotingCommand.response_to(request, ResponseCode.SYSTEM_ERROR, "disable")
        header = request.decode_header(GetTopicsByClusterRequestHeader)
        body = self.routes.get_topics_by_cluster(header.cluster).to_json()
        return RemotingCommand.response_to(request, body=body)

    def get_system_topic_list(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """GET_SYSTEM_TOPIC_LIST_FROM_NS (304)."""
        return RemotingCommand.response_to(
            request, body=self.routes.get_system_topic_list().to_json()
        )

    def get_unit_topic_list(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """GET_UNIT_TOPIC_LIST (311); "disable" when ``enableTopicList`` is off."""
        if not self.config.enable_topic_list:
            return RemotingCommand.response_to(request, ResponseCode.SYSTEM_ERROR, "disable")
        return RemotingCommand.response_to(request, body=self.routes.get_unit_topics().to_json())

    def get_has_unit_sub_topic_list(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """GET_HAS_UNIT_SUB_TOPIC_LIST (312); "disable" when ``enableTopicList`` is off."""
        if not self.config.enable_topic_list:
            return RemotingCommand.response_to(request, ResponseCode.SYSTEM_ERROR, "disable")
        body = self.routes.get_has_unit_sub_topic_list().to_json()
        return RemotingCommand.response_to(request, body=body)

    def get_has_unit_sub_un_unit_topic_list(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST (313); "disable" when ``enableTopicList``
        is off."""
        if not self.config.enable_topic_list:
            return RemotingCommand.response_to(request, ResponseCode.SYSTEM_ERROR, "disable")
        body = self.routes.get_has_unit_sub_un_unit_topic_list().to_json()
        return RemotingCommand.response_to(request, body=body)

    # ------------------------------------------------------------------ configuration

    def get_namesrv_config(self, request: RemotingCommand, conn: Connection) -> RemotingCommand:
        """GET_NAMESRV_CONFIG (319): every key as ``key=value`` lines, sorted."""
        properties = dict(sorted(config_to_properties(self.config).items()))
        return RemotingCommand.response_to(request, body=encode_properties_text(properties))

    async def update_namesrv_config(
        self, request: RemotingCommand, conn: Connection
    ) -> RemotingCommand:
        """UPDATE_NAMESRV_CONFIG (318): apply ``key=value`` lines and persist the result.

        Black-listed keys are refused with NO_PERMISSION, as Java does; unknown keys and
        bad values (which Java ignores) are refused with INVALID_PARAMETER. Changes to
        ``listenPort`` and ``bindAddress`` take effect at the next start.
        """
        logger.info("UPDATE_NAMESRV_CONFIG from %s", conn.peer)
        if not len(request.body):
            return RemotingCommand.response_to(request)
        try:
            properties = decode_properties_text(request.body)
        except RemoteProtocolError as exc:
            return RemotingCommand.response_to(
                request, ResponseCode.SYSTEM_ERROR, f"string2Properties error: {exc}"
            )
        config = self.config
        if config.black_listed_keys & properties.keys():
            return RemotingCommand.response_to(
                request, ResponseCode.NO_PERMISSION, "Can not update config in black list."
            )
        try:
            source = ConfigSource.from_mapping(properties, name="UPDATE_NAMESRV_CONFIG")
            updated = source.build(NamesrvConfig, base=config)
            source.check_claimed()
            check_supported(updated)
        except (ConfigError, UnsupportedFeatureError) as exc:
            logger.info("UPDATE_NAMESRV_CONFIG from %s refused: %s", conn.peer, exc)
            return RemotingCommand.response_to(request, ResponseCode.INVALID_PARAMETER, str(exc))
        for key in sorted(properties):
            logger.info(
                "namesrv config %s = %s (was %s)", key, properties[key], _value(config, key)
            )
        self.apply_config(updated)
        path = updated.config_store_path
        async with self._config_write_lock:
            data = render_config_file(self.config, path)
            try:
                await asyncio.to_thread(write_atomically, path, data)
            except OSError as exc:
                logger.error("cannot persist the namesrv config to %s: %s", path, exc)
                return RemotingCommand.response_to(
                    request,
                    ResponseCode.SYSTEM_ERROR,
                    f"config updated in memory but not written to {path}: {exc}",
                )
        return RemotingCommand.response_to(request)

    def apply_config(self, config: NamesrvConfig) -> None:
        """Put ``config`` in force (for the handlers and the route tables)."""
        self.config = config
        self.routes.config = config


def _bad_body(
    request: RemotingCommand, conn: Connection, what: str, exc: RemoteProtocolError
) -> RemotingCommand:
    logger.warning("%s from %s: bad %s body: %s", request.code_name, conn.peer, what, exc)
    return RemotingCommand.response_to(
        request, ResponseCode.SYSTEM_ERROR, f"cannot decode the {what} body: {exc}"
    )


def _value(config: NamesrvConfig, key: str) -> str | None:
    return config_to_properties(config).get(key)


def _with_order_conf(route: TopicRouteData, order_conf: str | None) -> TopicRouteData:
    return dataclasses.replace(route, order_topic_conf=order_conf)
