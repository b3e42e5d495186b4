"""The protobuf messages of Arrow Flight SQL (``format/FlightSql.proto``) and of Flight's session
and cancel actions (``format/Flight.proto``), built in code.

No package on PyPI ships the Python module protoc would generate from FlightSql.proto, so the
file descriptors are written here as ``descriptor_pb2.FileDescriptorProto`` values, with the
names and field numbers of the .proto files, and the message classes come from a private
descriptor pool (so nothing clashes with another library that registers the same names). Only
the messages Dawn's server reads or writes are declared; a command whose type it does not know is
recognised by its ``type.googleapis.com/...`` URL alone and refused by name.

``CancelFlightInfoRequest.info`` and ``ActionCancelQueryRequest.info`` are declared ``bytes``: on
the wire an embedded message and a byte string are the same, and the server hands those bytes to
``pyarrow.flight.FlightInfo.deserialize``.

Every Flight SQL command travels packed in a ``google.protobuf.Any``: ``pack(msg)`` and
``unpack(data)`` convert, and ``unpack`` raises ``MalformedCommand`` (never a protobuf error) for
bytes that are not one.
"""
from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

SQL_PACKAGE = "arrow.flight.protocol.sql"
FLIGHT_PACKAGE = "arrow.flight.protocol"
TYPE_URL_PREFIX = "type.googleapis.com/"

F = descriptor_pb2.FieldDescriptorProto
STRING, BYTES, BOOL = F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_BOOL
INT32, INT64, UINT32, SFIXED64, DOUBLE = F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_SFIXED64, F.TYPE_DOUBLE
MESSAGE, ENUM = F.TYPE_MESSAGE, F.TYPE_ENUM

# (name, number, type, label or "optional"/"repeated"/None, type_name for messages and enums)
_SQL_MESSAGES: dict[str, list[tuple]] = {
    "CommandGetSqlInfo": [("info", 1, UINT32, "repeated")],
    "CommandGetXdbcTypeInfo": [("data_type", 1, INT32, "optional")],
    "CommandGetCatalogs": [],
    "CommandGetDbSchemas": [("catalog", 1, STRING, "optional"),
                            ("db_schema_filter_pattern", 2, STRING, "optional")],
    "CommandGetTables": [("catalog", 1, STRING, "optional"),
                         ("db_schema_filter_pattern", 2, STRING, "optional"),
                         ("table_name_filter_pattern", 3, STRING, "optional"),
                         ("table_types", 4, STRING, "repeated"),
                         ("include_schema", 5, BOOL, None)],
    "CommandGetTableTypes": [],
    "CommandGetPrimaryKeys": [("catalog", 1, STRING, "optional"), ("db_schema", 2, STRING, "optional"),
                              ("table", 3, STRING, None)],
    "CommandGetExportedKeys": [("catalog", 1, STRING, "optional"), ("db_schema", 2, STRING, "optional"),
                               ("table", 3, STRING, None)],
    "CommandGetImportedKeys": [("catalog", 1, STRING, "optional"), ("db_schema", 2, STRING, "optional"),
                               ("table", 3, STRING, None)],
    "CommandGetCrossReference": [("pk_catalog", 1, STRING, "optional"), ("pk_db_schema", 2, STRING, "optional"),
                                 ("pk_table", 3, STRING, None), ("fk_catalog", 4, STRING, "optional"),
                                 ("fk_db_schema", 5, STRING, "optional"), ("fk_table", 6, STRING, None)],
    "ActionCreatePreparedStatementRequest": [("query", 1, STRING, None),
                                             ("transaction_id", 2, BYTES, "optional")],
    "ActionCreatePreparedStatementResult": [("prepared_statement_handle", 1, BYTES, None),
                                            ("dataset_schema", 2, BYTES, None),
                                            ("parameter_schema", 3, BYTES, None)],
    "ActionClosePreparedStatementRequest": [("prepared_statement_handle", 1, BYTES, None)],
    "ActionBeginTransactionRequest": [],
    "ActionBeginTransactionResult": [("transaction_id", 1, BYTES, None)],
    "ActionEndTransactionRequest": [("transaction_id", 1, BYTES, None),
                                    ("action", 2, ENUM, None, ".arrow.flight.protocol.sql."
                                     "ActionEndTransactionRequest.EndTransaction")],
    "CommandStatementQuery": [("query", 1, STRING, None), ("transaction_id", 2, BYTES, "optional")],
    "TicketStatementQuery": [("statement_handle", 1, BYTES, None)],
    "CommandPreparedStatementQuery": [("prepared_statement_handle", 1, BYTES, None)],
    "CommandStatementUpdate": [("query", 1, STRING, None), ("transaction_id", 2, BYTES, "optional")],
    "CommandPreparedStatementUpdate": [("prepared_statement_handle", 1, BYTES, None)],
    "DoPutUpdateResult": [("record_count", 1, INT64, None)],
    "DoPutPreparedStatementResult": [("prepared_statement_handle", 1, BYTES, "optional")],
    "ActionCancelQueryRequest": [("info", 1, BYTES, None)],
    "ActionCancelQueryResult": [("result", 1, ENUM, None, ".arrow.flight.protocol.sql."
                                 "ActionCancelQueryResult.CancelResult")],
}
_SQL_NESTED_ENUMS = {
    "ActionEndTransactionRequest": ("EndTransaction", ["END_TRANSACTION_UNSPECIFIED",
                                                       "END_TRANSACTION_COMMIT", "END_TRANSACTION_ROLLBACK"]),
    "ActionCancelQueryResult": ("CancelResult", ["CANCEL_RESULT_UNSPECIFIED", "CANCEL_RESULT_CANCELLED",
                                                 "CANCEL_RESULT_CANCELLING", "CANCEL_RESULT_NOT_CANCELLABLE"]),
}

# Commands and actions of FlightSql.proto that Dawn recognises but does not implement: refused by
# name with NotSupportedError rather than "unknown command".
UNSUPPORTED_SQL_MESSAGES = (
    "CommandStatementSubstraitPlan", "ActionCreatePreparedSubstraitPlanRequest",
    "ActionBeginSavepointRequest", "ActionEndSavepointRequest", "CommandStatementIngest",
)

END_TRANSACTION_COMMIT = 1
END_TRANSACTION_ROLLBACK = 2
CANCEL_STATUS_CANCELLED = 1
CANCEL_STATUS_NOT_CANCELLABLE = 3
CLOSE_SESSION_CLOSED = 1
SET_SESSION_INVALID_NAME = 1
SET_SESSION_INVALID_VALUE = 2
SET_SESSION_ERROR = 3


def _field(msg: descriptor_pb2.DescriptorProto, spec: tuple, oneofs: dict[str, int]) -> None:
    name, number, ftype, label = spec[:4]
    f = msg.field.add(name=name, number=number, type=ftype)
    if len(spec) > 4:
        f.type_name = spec[4]
    if label == "repeated":
        f.label = F.LABEL_REPEATED
    else:
        f.label = F.LABEL_OPTIONAL
    if label == "optional":        # proto3 `optional`: presence through a synthetic oneof
        f.proto3_optional = True
        oneofs[name] = len(msg.oneof_decl)
        f.oneof_index = len(msg.oneof_decl)
        msg.oneof_decl.add(name=f"_{name}")


def _enum(parent, name: str, values: list[str]) -> None:
    e = parent.enum_type.add(name=name)
    for i, v in enumerate(values):
        e.value.add(name=v, number=i)


def _map_entry(msg: descriptor_pb2.DescriptorProto, full_name: str, field_name: str, entry: str,
               number: int, value_type: int, value_type_name: str = "") -> None:
    """A ``map<string, V>`` field: a repeated nested *Entry message marked map_entry."""
    e = msg.nested_type.add(name=entry)
    e.options.map_entry = True
    e.field.add(name="key", number=1, type=STRING, label=F.LABEL_OPTIONAL)
    v = e.field.add(name="value", number=2, type=value_type, label=F.LABEL_OPTIONAL)
    if value_type_name:
        v.type_name = value_type_name
    msg.field.add(name=field_name, number=number, type=MESSAGE, label=F.LABEL_REPEATED,
                  type_name=f".{full_name}.{entry}")


def _sql_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="dawn/arrow/flight/protocol/sql/FlightSql.proto",
                                            package=SQL_PACKAGE, syntax="proto3")
    for name, fields in _SQL_MESSAGES.items():
        msg = fd.message_type.add(name=name)
        if name in _SQL_NESTED_ENUMS:
            _enum(msg, *_SQL_NESTED_ENUMS[name])
        oneofs: dict[str, int] = {}
        for spec in fields:
            _field(msg, spec, oneofs)
    return fd


def _flight_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="dawn/arrow/flight/protocol/Flight.proto",
                                            package=FLIGHT_PACKAGE, syntax="proto3")
    p = f".{FLIGHT_PACKAGE}."
    _enum(fd, "CancelStatus", ["CANCEL_STATUS_UNSPECIFIED", "CANCEL_STATUS_CANCELLED",
                               "CANCEL_STATUS_CANCELLING", "CANCEL_STATUS_NOT_CANCELLABLE"])
    v = fd.message_type.add(name="SessionOptionValue")
    v.nested_type.add(name="StringListValue").field.add(name="values", number=1, type=STRING,
                                                         label=F.LABEL_REPEATED)
    v.oneof_decl.add(name="option_value")
    for name, number, ftype, tname in (("string_value", 1, STRING, ""), ("bool_value", 2, BOOL, ""),
                                       ("int64_value", 3, SFIXED64, ""), ("double_value", 4, DOUBLE, ""),
                                       ("string_list_value", 5, MESSAGE,
                                        p + "SessionOptionValue.StringListValue")):
        f = v.field.add(name=name, number=number, type=ftype, label=F.LABEL_OPTIONAL, oneof_index=0)
        if tname:
            f.type_name = tname
    for name, (field_name, value_type, value_name) in {
            "SetSessionOptionsRequest": ("session_options", MESSAGE, p + "SessionOptionValue"),
            "GetSessionOptionsResult": ("session_options", MESSAGE, p + "SessionOptionValue")}.items():
        m = fd.message_type.add(name=name)
        _map_entry(m, f"{FLIGHT_PACKAGE}.{name}", field_name, "SessionOptionsEntry", 1, value_type, value_name)
    r = fd.message_type.add(name="SetSessionOptionsResult")
    _enum(r, "ErrorValue", ["UNSPECIFIED", "INVALID_NAME", "INVALID_VALUE", "ERROR"])
    r.nested_type.add(name="Error").field.add(name="value", number=1, type=ENUM, label=F.LABEL_OPTIONAL,
                                              type_name=p + "SetSessionOptionsResult.ErrorValue")
    _map_entry(r, f"{FLIGHT_PACKAGE}.SetSessionOptionsResult", "errors", "ErrorsEntry", 1, MESSAGE, p + "SetSessionOptionsResult.Error")
    fd.message_type.add(name="GetSessionOptionsRequest")
    fd.message_type.add(name="CloseSessionRequest")
    c = fd.message_type.add(name="CloseSessionResult")
    _enum(c, "Status", ["UNSPECIFIED", "CLOSED", "CLOSING", "NOT_CLOSEABLE"])
    c.field.add(name="status", number=1, type=ENUM, label=F.LABEL_OPTIONAL,
                type_name=p + "CloseSessionResult.Status")
    fd.message_type.add(name="CancelFlightInfoRequest").field.add(
        name="info", number=1, type=BYTES, label=F.LABEL_OPTIONAL)
    fd.message_type.add(name="CancelFlightInfoResult").field.add(
        name="status", number=1, type=ENUM, label=F.LABEL_OPTIONAL, type_name=p + "CancelStatus")
    return fd


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_sql_file())
_pool.Add(_flight_file())


def _cls(full_name: str) -> type[Message]:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(full_name))


class _Namespace:
    def __init__(self, package: str, names):
        for n in names:
            setattr(self, n, _cls(f"{package}.{n}"))


sql = _Namespace(SQL_PACKAGE, _SQL_MESSAGES)
"""The Flight SQL messages: ``sql.CommandStatementQuery(query=...)`` etc."""

flight = _Namespace(FLIGHT_PACKAGE, ["SessionOptionValue", "SetSessionOptionsRequest",
                                     "SetSessionOptionsResult", "GetSessionOptionsRequest",
                                     "GetSessionOptionsResult", "CloseSessionRequest",
                                     "CloseSessionResult", "CancelFlightInfoRequest",
                                     "CancelFlightInfoResult"])
"""Flight's session and cancel action messages."""

SQL_TYPES: dict[str, type[Message]] = {TYPE_URL_PREFIX + f"{SQL_PACKAGE}.{n}": getattr(sql, n)
                                       for n in _SQL_MESSAGES}


class MalformedCommand(ValueError):
    """Bytes that are not a well-formed protobuf message of the expected kind."""


def pack(msg: Message) -> bytes:
    """``msg`` packed in a google.protobuf.Any, serialized (commands, tickets, action results)."""
    a = any_pb2.Any()
    a.Pack(msg)
    return a.SerializeToString()


def type_url(data: bytes) -> str | None:
    """The type URL of a serialized Any, or None when ``data`` is not one (plain SQL text, say)."""
    a = any_pb2.Any()
    try:
        a.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return None
    return a.type_url if a.type_url.startswith(TYPE_URL_PREFIX) else None


def unpack(data: bytes) -> Message | None:
    """The Flight SQL message packed in ``data``; None when ``data`` is not a google.protobuf.Any
    (the caller treats it as plain SQL text); MalformedCommand when it is one (or looks like a
    truncated one) but not of a Flight SQL message that parses."""
    a = any_pb2.Any()
    try:
        a.ParseFromString(data)
        parsed = "/" in a.type_url      # every type URL has one; text that happens to parse has not
    except (DecodeError, RuntimeError, ValueError):
        parsed = False
    if not parsed:
        if TYPE_URL_PREFIX.encode() in data[:256]:
            raise MalformedCommand("the command looks like a google.protobuf.Any but does not parse "
                                   "(truncated or corrupted)")
        return None
    prefix = TYPE_URL_PREFIX + SQL_PACKAGE + "."
    if not a.type_url.startswith(prefix):
        raise MalformedCommand(f"unknown command type {a.type_url!r}: not a Flight SQL message "
                               f"({prefix}...)")
    cls = SQL_TYPES.get(a.type_url)
    name = a.type_url[len(prefix):]
    if cls is None:
        from engine.errors import NotSupportedError
        if name in UNSUPPORTED_SQL_MESSAGES:
            raise NotSupportedError(f"Flight SQL {name} is not supported by Dawn's server")
        raise MalformedCommand(f"unknown Flight SQL message {name!r}")
    return parse(cls, a.value, name)


def parse(cls: type[Message], data: bytes, what: str | None = None) -> Message:
    """``data`` parsed as ``cls``; MalformedCommand naming the message when it does not parse."""
    msg = cls()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise MalformedCommand(f"malformed {what or cls.DESCRIPTOR.name} message: {e}") from None
    return msg


def is_a(msg: Message, name: str) -> bool:
    return msg.DESCRIPTOR.name == name
