/*
 * rmq_protocol._speedups: optional C versions of the codec's per-message loops.
 *
 * Every function here mirrors a pure-Python function of rmq_protocol.codec exactly (the
 * Python one is the reference and stays in use where this module is not built); the
 * differential tests in tests/test_speedups.py feed both the same inputs. The C code
 * takes only the common case. For anything unusual (a field out of range, an IPv6 host,
 * a property with a separator, a lone surrogate, magic v2, ...) it calls the Python
 * function, which gives the answer or raises its precise error: error texts live in one
 * place. Decision D18 in docs/design/decisions.md records why this module exists.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "_common.h"
#include "_crc32.h"

/* Bumped whenever a function's contract changes: the loader ignores a stale build. */
#define SPEEDUPS_ABI 2

#define MAGIC_V1 0xDAA320A7u
#define FIXED_SIZE 88             /* fixed fields with both hosts IPv4 */
#define MAX_TOPIC_LENGTH_V1 127
#define MAX_PROPERTIES_LENGTH 32767
#define QUEUE_OFFSET_POSITION 20
#define PHYSICAL_OFFSET_POSITION 28
#define SYSFLAG_POSITION 36

/* ------------------------------------------------------------------ state from init() */

enum {
    F_MAGIC, F_QUEUE_ID, F_FLAG, F_QUEUE_OFFSET, F_COMMIT_LOG_OFFSET, F_SYS_FLAG,
    F_BORN_TIMESTAMP, F_BORN_HOST, F_STORE_TIMESTAMP, F_STORE_HOST, F_RECONSUME_TIMES,
    F_PREPARED_TRANSACTION_OFFSET, F_BODY, F_TOPIC, F_PROPERTIES, F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "magic", "queue_id", "flag", "queue_offset", "commit_log_offset", "sys_flag",
    "born_timestamp", "born_host", "store_timestamp", "store_host", "reconsume_times",
    "prepared_transaction_offset", "body", "topic", "properties",
};

static PyTypeObject *message_type = NULL;
static PyTypeObject *host_type = NULL;
static Py_ssize_t field_offsets[F_COUNT];
static Py_ssize_t host_offset, port_offset;
static PyObject *py_encode_message = NULL; /* the reference encoder */

static PyObject *
speedups_init(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {
        "message_type", "host_type", "properties_slot", "encode_message", NULL};
    PyObject *mtype, *htype, *props_descr, *encode;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!OO:init", keywords, &PyType_Type,
                                     &mtype, &PyType_Type, &htype, &props_descr, &encode)) {
        return NULL;
    }
    Py_ssize_t offsets[F_COUNT], host_at, port_at;
    for (int i = 0; i < F_COUNT; i++) {
        PyObject *descr = i == F_PROPERTIES ? props_descr : NULL;
        if (rmq_slot_offset((PyTypeObject *)mtype, descr, field_names[i], &offsets[i]) < 0) {
            return NULL;
        }
    }
    if (rmq_slot_offset((PyTypeObject *)htype, NULL, "host", &host_at) < 0 ||
        rmq_slot_offset((PyTypeObject *)htype, NULL, "port", &port_at) < 0) {
        return NULL;
    }
    memcpy(field_offsets, offsets, sizeof offsets);
    host_offset = host_at;
    port_offset = port_at;
    Py_INCREF(mtype);
    Py_XSETREF(message_type, (PyTypeObject *)mtype);
    Py_INCREF(htype);
    Py_XSETREF(host_type, (PyTypeObject *)htype);
    Py_INCREF(encode);
    Py_XSETREF(py_encode_message, encode);
    Py_RETURN_NONE;
}

static int
check_ready(void)
{
    if (message_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "rmq_protocol._speedups.init() was not called");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ Java hashes */

/* One code point into a Java hash: a UTF-16 unit, or the surrogate pair of a code point
 * above U+FFFF. -1 for a lone surrogate, which Python's UTF-16 encoder refuses. */
static inline int
java_hash_char(uint32_t *h, Py_UCS4 c)
{
    if (c >= 0xD800 && c <= 0xDFFF) return -1;
    if (c > 0xFFFF) {
        c -= 0x10000;
        *h = 31u * *h + (0xD800 + (c >> 10));
        *h = 31u * *h + (0xDC00 + (c & 0x3FF));
    } else {
        *h = 31u * *h + c;
    }
    return 0;
}

/* Java String.hashCode over the UTF-16 code units of text, continuing from h. Returns
 * -1 (and leaves *h alone) when text holds a lone surrogate, which Python's UTF-16
 * encoder refuses: the caller then asks the reference implementation. */
static int
java_hash_update(PyObject *text, uint32_t *h)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    uint32_t acc = *h;
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *s = data;
        for (Py_ssize_t i = 0; i < n; i++) acc = 31u * acc + s[i];
    } else if (kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *s = data;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (s[i] >= 0xD800 && s[i] <= 0xDFFF) return -1;
            acc = 31u * acc + s[i];
        }
    } else {
        const Py_UCS4 *s = data;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (java_hash_char(&acc, s[i]) < 0) return -1;
        }
    }
    *h = acc;
    return 0;
}

/* Python's UTF-16 encoder refuses a lone surrogate: raise its UnicodeEncodeError, as the
 * reference implementation does. */
static PyObject *
surrogate_error(PyObject *text)
{
    PyObject *encoded = PyUnicode_AsEncodedString(text, "utf-16-be", "strict");
    if (encoded != NULL) {
        Py_DECREF(encoded);
        PyErr_SetString(PyExc_SystemError, "java hash: surrogate check disagrees with codec");
    }
    return NULL;
}

static uint32_t
index_hash_of(uint32_t h)
{
    /* abs(int32), and 0 for Integer.MIN_VALUE */
    return h < 0x80000000u ? h : (h == 0x80000000u ? 0 : 0u - h);
}

static PyObject *
speedups_java_string_hash(PyObject *module, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "java_string_hash needs a str, not %.100s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    uint32_t h = 0;
    if (java_hash_update(text, &h) < 0) return surrogate_error(text);
    return PyLong_FromLong((long)(int32_t)h);
}

static PyObject *
speedups_index_key_hash(PyObject *module, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "index_key_hash needs a str, not %.100s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    uint32_t h = 0;
    if (java_hash_update(text, &h) < 0) return surrogate_error(text);
    return PyLong_FromUnsignedLong(index_hash_of(h));
}

/* index_key_hashes(topic, keys, unique_key): the IndexFile hashes of one record's keys,
 * in the order IndexService writes them: "topic#unique_key" (when unique_key is not None),
 * then "topic#k" for every non-empty k of keys split on ' '. None when a text holds a lone
 * surrogate (the caller then hashes the keys one by one, which raises the encoder's error). */
static PyObject *
speedups_index_key_hashes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "index_key_hashes(topic, keys, unique_key)");
        return NULL;
    }
    PyObject *topic = args[0], *keys = args[1], *unique = args[2];
    if (!PyUnicode_Check(topic) || (keys != Py_None && !PyUnicode_Check(keys)) ||
        (unique != Py_None && !PyUnicode_Check(unique))) {
        PyErr_SetString(PyExc_TypeError, "index_key_hashes needs str arguments (or None)");
        return NULL;
    }
    uint32_t prefix = 0;
    if (java_hash_update(topic, &prefix) < 0) Py_RETURN_NONE;
    prefix = 31u * prefix + '#';
    PyObject *result = PyList_New(0);
    if (result == NULL) return NULL;
    if (unique != Py_None) {
        uint32_t h = prefix;
        if (java_hash_update(unique, &h) < 0) goto slow;
        PyObject *value = PyLong_FromUnsignedLong(index_hash_of(h));
        if (value == NULL || PyList_Append(result, value) < 0) {
            Py_XDECREF(value);
            goto error;
        }
        Py_DECREF(value);
    }
    if (keys != Py_None) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(keys);
        int kind = PyUnicode_KIND(keys);
        const void *data = PyUnicode_DATA(keys);
        Py_ssize_t i = 0;
        while (i < n) {
            while (i < n && PyUnicode_READ(kind, data, i) == ' ') i++;
            if (i >= n) break;
            uint32_t h = prefix;
            for (; i < n; i++) {
                Py_UCS4 c = PyUnicode_READ(kind, data, i);
                if (c == ' ') break;
                if (java_hash_char(&h, c) < 0) goto slow;
            }
            PyObject *value = PyLong_FromUnsignedLong(index_hash_of(h));
            if (value == NULL || PyList_Append(result, value) < 0) {
                Py_XDECREF(value);
                goto error;
            }
            Py_DECREF(value);
        }
    }
    return result;
slow:
    Py_DECREF(result);
    Py_RETURN_NONE;
error:
    Py_DECREF(result);
    return NULL;
}

/* ------------------------------------------------------------------ encode_message */

/* An int field as int64 within [low, high]; 0 on success, -1 when it is not an int or
 * out of range (no exception set: the caller falls back). */
static int
int_field(PyObject *value, int64_t low, int64_t high, int64_t *out)
{
    if (value == NULL || !PyLong_Check(value)) return -1;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    if (v < low || v > high) return -1;
    *out = v;
    return 0;
}

/* The last IPv4 address texts parsed and their 4 network-order bytes: every record of a
 * send carries the same store host and, per connection, the same born host. A str is
 * immutable and the cache holds a reference, so the same object means the same text. */
#define ADDRESS_CACHE 4
static struct {
    PyObject *text; /* strong reference, or NULL */
    uint32_t s_addr;
} address_cache[ADDRESS_CACHE];
static unsigned int address_next = 0;

/* An IPv4 HostPort as its 8 wire bytes; -1 for anything else (IPv6, a name, a bad port). */
static int
host_wire(PyObject *host, char *out)
{
    if (host == NULL || Py_TYPE(host) != host_type) return -1;
    PyObject *text = slot(host, host_offset), *port_obj = slot(host, port_offset);
    if (text == NULL) return -1;
    int64_t port;
    for (int i = 0; i < ADDRESS_CACHE; i++) {
        if (address_cache[i].text == text) {
            if (int_field(port_obj, 0, 0xFFFF, &port) < 0) return -1;
            memcpy(out, &address_cache[i].s_addr, 4);
            put32(out + 4, (uint32_t)port);
            return 0;
        }
    }
    if (!PyUnicode_IS_ASCII(text)) return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n < 7 || n > 15) return -1;
    char address[16];
    memcpy(address, PyUnicode_DATA(text), (size_t)n);
    address[n] = '\0';
    struct in_addr in;
    if (inet_pton(AF_INET, address, &in) != 1) return -1;
    if (int_field(port_obj, 0, 0xFFFF, &port) < 0) return -1;
    if (PyUnicode_CheckExact(text)) { /* a subclass could be mutable */
        unsigned int at = address_next++ % ADDRESS_CACHE;
        Py_INCREF(text);
        Py_XSETREF(address_cache[at].text, text);
        address_cache[at].s_addr = in.s_addr;
    }
    memcpy(out, &in.s_addr, 4); /* already network order */
    put32(out + 4, (uint32_t)port);
    return 0;
}

/* UTF-8 of a str (not copied), or NULL with no exception when it has no UTF-8 form. */
static const char *
utf8_of(PyObject *text, Py_ssize_t *size)
{
    const char *data = PyUnicode_AsUTF8AndSize(text, size);
    if (data == NULL) PyErr_Clear();
    return data;
}

static int
has_separator(const char *data, Py_ssize_t size)
{
    return memchr(data, 1, (size_t)size) != NULL || memchr(data, 2, (size_t)size) != NULL;
}

/* The properties text of a dict into a new bytes object ("name\x01value\x02" per pair),
 * or NULL with no exception set when the reference encoder must decide (a non-str item,
 * an empty name or value, a separator inside one, more than 32767 bytes). */
static PyObject *
properties_bytes(PyObject *props)
{
    Py_ssize_t pos = 0, total = 0;
    PyObject *name, *value;
    while (PyDict_Next(props, &pos, &name, &value)) {
        if (!PyUnicode_CheckExact(name) || !PyUnicode_CheckExact(value)) return NULL;
        Py_ssize_t a, b;
        const char *x = utf8_of(name, &a), *y = utf8_of(value, &b);
        if (x == NULL || y == NULL || a == 0 || b == 0 || has_separator(x, a) ||
            has_separator(y, b)) {
            return NULL;
        }
        total += a + b + 2;
        if (total > MAX_PROPERTIES_LENGTH) return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) {
        PyErr_Clear();
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    pos = 0;
    while (PyDict_Next(props, &pos, &name, &value)) {
        Py_ssize_t a, b;
        const char *x = PyUnicode_AsUTF8AndSize(name, &a);
        const char *y = PyUnicode_AsUTF8AndSize(value, &b);
        memcpy(p, x, (size_t)a);
        p += a;
        *p++ = 1;
        memcpy(p, y, (size_t)b);
        p += b;
        *p++ = 2;
    }
    return out;
}

static PyObject *
fallback_encode(PyObject *message)
{
    if (PyErr_Occurred()) return NULL;
    return PyObject_CallOneArg(py_encode_message, message);
}

static PyObject *
speedups_encode_message(PyObject *module, PyObject *message)
{
    if (check_ready() < 0) return NULL;
    if (Py_TYPE(message) != message_type) return fallback_encode(message);
    PyObject *f[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        f[i] = slot(message, field_offsets[i]);
        if (f[i] == NULL) return fallback_encode(message);
    }
    int64_t magic, queue_id, flag, queue_offset, commit_log_offset, sys_flag, born_ts,
        store_ts, reconsume, prepared;
    if (int_field(f[F_MAGIC], 0, UINT32_MAX, &magic) < 0 || magic != MAGIC_V1 ||
        int_field(f[F_QUEUE_ID], INT32_MIN, INT32_MAX, &queue_id) < 0 ||
        int_field(f[F_FLAG], INT32_MIN, INT32_MAX, &flag) < 0 ||
        int_field(f[F_QUEUE_OFFSET], INT64_MIN, INT64_MAX, &queue_offset) < 0 ||
        int_field(f[F_COMMIT_LOG_OFFSET], INT64_MIN, INT64_MAX, &commit_log_offset) < 0 ||
        int_field(f[F_SYS_FLAG], INT32_MIN, INT32_MAX, &sys_flag) < 0 ||
        int_field(f[F_BORN_TIMESTAMP], INT64_MIN, INT64_MAX, &born_ts) < 0 ||
        int_field(f[F_STORE_TIMESTAMP], INT64_MIN, INT64_MAX, &store_ts) < 0 ||
        int_field(f[F_RECONSUME_TIMES], INT32_MIN, INT32_MAX, &reconsume) < 0 ||
        int_field(f[F_PREPARED_TRANSACTION_OFFSET], INT64_MIN, INT64_MAX, &prepared) < 0) {
        return fallback_encode(message);
    }
    char born[8], store[8];
    if (host_wire(f[F_BORN_HOST], born) < 0 || host_wire(f[F_STORE_HOST], store) < 0) {
        return fallback_encode(message);
    }
    PyObject *body = f[F_BODY], *topic = f[F_TOPIC], *raw_props = f[F_PROPERTIES];
    if (!PyBytes_CheckExact(body) || !PyUnicode_CheckExact(topic)) {
        return fallback_encode(message);
    }
    Py_ssize_t topic_len, body_len = PyBytes_GET_SIZE(body);
    const char *topic_data = utf8_of(topic, &topic_len);
    if (topic_data == NULL || topic_len > MAX_TOPIC_LENGTH_V1) return fallback_encode(message);

    PyObject *props_owned = NULL; /* a bytes object we made, or NULL */
    const char *props_data;
    Py_ssize_t props_len;
    if (PyUnicode_CheckExact(raw_props)) { /* undecoded text from a record: kept as is */
        props_data = utf8_of(raw_props, &props_len);
        if (props_data == NULL || props_len > MAX_PROPERTIES_LENGTH) {
            return fallback_encode(message);
        }
    } else if (PyDict_CheckExact(raw_props)) {
        props_owned = properties_bytes(raw_props);
        if (props_owned == NULL) return fallback_encode(message);
        props_data = PyBytes_AS_STRING(props_owned);
        props_len = PyBytes_GET_SIZE(props_owned);
    } else {
        return fallback_encode(message);
    }
    if (body_len > INT32_MAX - FIXED_SIZE - 1 - MAX_TOPIC_LENGTH_V1 - 2 - MAX_PROPERTIES_LENGTH) {
        Py_XDECREF(props_owned);
        return fallback_encode(message);
    }
    uint32_t crc = rmq_crc32(0, (const unsigned char *)PyBytes_AS_STRING(body), (size_t)body_len);

    Py_ssize_t size = FIXED_SIZE + body_len + 1 + topic_len + 2 + props_len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        Py_XDECREF(props_owned);
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    put32(p + 0, (uint32_t)size);
    put32(p + 4, MAGIC_V1);
    put32(p + 8, (uint32_t)(crc & 0x7FFFFFFFu));
    put32(p + 12, (uint32_t)queue_id);
    put32(p + 16, (uint32_t)flag);
    put64(p + 20, (uint64_t)queue_offset);
    put64(p + 28, (uint64_t)commit_log_offset);
    put32(p + 36, (uint32_t)(sys_flag & ~(int64_t)0x30)); /* both hosts IPv4 */
    put64(p + 40, (uint64_t)born_ts);
    memcpy(p + 48, born, 8);
    put64(p + 56, (uint64_t)store_ts);
    memcpy(p + 64, store, 8);
    put32(p + 72, (uint32_t)reconsume);
    put64(p + 76, (uint64_t)prepared);
    put32(p + 84, (uint32_t)body_len);
    p += FIXED_SIZE;
    memcpy(p, PyBytes_AS_STRING(body), (size_t)body_len);
    p += body_len;
    *p++ = (char)topic_len;
    memcpy(p, topic_data, (size_t)topic_len);
    p += topic_len;
    p[0] = (char)(props_len >> 8);
    p[1] = (char)props_len;
    memcpy(p + 2, props_data, (size_t)props_len);
    Py_XDECREF(props_owned);
    return out;
}

/* ------------------------------------------------------------------ write_records */

/* write_records(buffer, position, room, base, records, start, queue_offsets,
 *               store_timestamp, offsets) -> (next, position, room)
 *
 * The inner loop of CommitLog._append: copy records[start:] into the writable buffer
 * (a mapped segment) from position while each fits in room, patching QUEUEOFFSET
 * (queue_offsets[i]), PHYSICALOFFSET (base + position) and STORETIMESTAMP, the 8-byte
 * head written last; appends each record's commit-log offset to the list offsets.
 * Returns the index of the first record not written (len(records) when all were). */
static PyObject *
speedups_write_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError,
                        "write_records(buffer, position, room, base, records, start, "
                        "queue_offsets, store_timestamp, offsets)");
        return NULL;
    }
    Py_ssize_t position = PyLong_AsSsize_t(args[1]);
    Py_ssize_t room = PyLong_AsSsize_t(args[2]);
    long long base = PyLong_AsLongLong(args[3]);
    Py_ssize_t start = PyLong_AsSsize_t(args[5]);
    long long store_ts = PyLong_AsLongLong(args[7]);
    if (PyErr_Occurred()) return NULL;
    PyObject *records = args[4], *queue_offsets = args[6], *offsets = args[8];
    if (!PyList_Check(records) || !PyList_Check(queue_offsets) || !PyList_Check(offsets)) {
        PyErr_SetString(PyExc_TypeError, "write_records: records, queue_offsets and offsets "
                                         "must be lists");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(records);
    if (PyList_GET_SIZE(queue_offsets) != count || start < 0 || position < 0 || room < 0) {
        PyErr_SetString(PyExc_ValueError, "write_records: inconsistent arguments");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) < 0) return NULL;
    char *buf = view.buf;
    Py_ssize_t i = start;
    for (; i < count; i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!PyBytes_Check(record)) {
            PyErr_SetString(PyExc_TypeError, "write_records: a record is not bytes");
            goto error;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(record);
        if (size > room) break;
        if (size < FIXED_SIZE || position + size > view.len) {
            PyErr_Format(PyExc_ValueError,
                         "write_records: record of %zd bytes at %zd does not fit a buffer of "
                         "%zd bytes", size, position, view.len);
            goto error;
        }
        long long queue_offset = PyLong_AsLongLong(PyList_GET_ITEM(queue_offsets, i));
        if (queue_offset == -1 && PyErr_Occurred()) goto error;
        const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(record);
        char *at = buf + position;
        memcpy(at + 8, data + 8, (size_t)(size - 8));
        put64(at + QUEUE_OFFSET_POSITION, (uint64_t)queue_offset);
        put64(at + PHYSICAL_OFFSET_POSITION, (uint64_t)(base + position));
        /* STORETIMESTAMP follows BORNHOST, 8 bytes for IPv4 and 20 for IPv6 */
        Py_ssize_t ts_at = (data[SYSFLAG_POSITION + 3] & 0x10) ? 68 : 56;
        if (ts_at + 8 > size) {
            PyErr_SetString(PyExc_ValueError, "write_records: record too short for its hosts");
            goto error;
        }
        put64(at + ts_at, (uint64_t)store_ts);
        PyObject *offset = PyLong_FromLongLong(base + position);
        if (offset == NULL || PyList_Append(offsets, offset) < 0) {
            Py_XDECREF(offset);
            goto error;
        }
        Py_DECREF(offset);
        memcpy(at, data, 8); /* the head last: a torn write leaves a zero head */
        position += size;
        room -= size;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnn)", i, position, room);
error:
    PyBuffer_Release(&view);
    return NULL;
}

/* crc32(data, value=0): zlib.crc32's contract, computed by _crc32.h with fn. */
static PyObject *
crc32_with(rmq_crc32_fn fn, const char *name, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s expected 1 or 2 arguments, got %zd", name, nargs);
        return NULL;
    }
    uint32_t value = 0;
    if (nargs == 2) {
        unsigned long v = PyLong_AsUnsignedLongMask(args[1]);
        if (v == (unsigned long)-1 && PyErr_Occurred()) return NULL;
        value = (uint32_t)v;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    uint32_t crc;
    if (view.len >= 65536) { /* big buffers: let other threads run meanwhile */
        Py_BEGIN_ALLOW_THREADS
        crc = fn(value, view.buf, (size_t)view.len);
        Py_END_ALLOW_THREADS
    } else {
        crc = fn(value, view.buf, (size_t)view.len);
    }
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc);
}

static PyObject *
speedups_crc32(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return crc32_with(rmq_crc32_impl, "crc32", args, nargs);
}

static PyObject *
speedups_crc32_sliced(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return crc32_with(rmq_crc32_portable, "crc32_sliced", args, nargs);
}

/* ------------------------------------------------------------------ module */

static PyMethodDef speedups_methods[] = {
    {"init", (PyCFunction)(void (*)(void))speedups_init, METH_VARARGS | METH_KEYWORDS,
     "Tell the module the codec's types and reference functions."},
    {"java_string_hash", speedups_java_string_hash, METH_O, "Java String.hashCode."},
    {"index_key_hash", speedups_index_key_hash, METH_O, "IndexFile hash of a key."},
    {"index_key_hashes", (PyCFunction)(void (*)(void))speedups_index_key_hashes,
     METH_FASTCALL, "IndexFile hashes of one record's keys."},
    {"encode_message", speedups_encode_message, METH_O, "The record of a MessageExt."},
    {"crc32", (PyCFunction)(void (*)(void))speedups_crc32, METH_FASTCALL,
     "crc32(data, value=0): zlib.crc32, folded with carry-less multiplication where the "
     "CPU has it."},
    {"crc32_sliced", (PyCFunction)(void (*)(void))speedups_crc32_sliced, METH_FASTCALL,
     "crc32 by the portable table-driven implementation (what CPUs without carry-less "
     "multiplication run; for tests)."},
    {"write_records", (PyCFunction)(void (*)(void))speedups_write_records, METH_FASTCALL,
     "Copy encoded records into a mapped segment."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "rmq_protocol._speedups",
    "Optional C versions of rmq_protocol.codec's per-message loops.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) return NULL;
    rmq_crc32_setup();
    /* rmq_crc32 for other packages' C modules (rmq-store's recovery scan): a capsule
     * holding the function pointer, imported with PyCapsule_Import(RMQ_CRC32_CAPSULE). */
    PyObject *api = PyCapsule_New((void *)rmq_crc32_impl, RMQ_CRC32_CAPSULE, NULL);
    if (PyModule_AddIntConstant(module, "ABI", SPEEDUPS_ABI) < 0 || api == NULL ||
        PyModule_AddObject(module, "crc32_api", api) < 0) {
        Py_XDECREF(api);
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddStringConstant(module, "CRC32_IMPLEMENTATION",
#ifdef RMQ_CRC32_CLMUL
                                   rmq_crc32_impl == rmq_crc32_clmul ? "pclmul" :
#endif
                                   "sliced") < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
