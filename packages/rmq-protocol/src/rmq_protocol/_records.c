/*
 * rmq_protocol._records: optional C versions of the message-record and batch codecs.
 *
 * Every function here mirrors a pure-Python reference in rmq_protocol.codec (message.py,
 * properties.py, msgid.py) exactly; the reference stays in use where this module is not
 * built. The C code takes only the common case. For anything unusual (a record that does
 * not add up, text that is not UTF-8, a host port out of range, an entry of another type,
 * a property with a separator, ...) it hands the item to the Python function, which gives
 * the answer or raises its precise error: error texts live in one place. The differential
 * tests in tests/test_records.py feed both the same inputs. Decision D19 in
 * docs/design/decisions.md records why C modules exist at all.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#include "_common.h"
#include "_crc32.h"

/* Bumped whenever a function's contract changes: the loader ignores a stale build. */
#define RECORDS_ABI 4

#define MAGIC_V1 0xDAA320A7u
#define MAGIC_V2 0xDAA320ABu
#define MAX_TOPIC_LENGTH_V1 127
#define MAX_PROPERTIES_LENGTH 32767
#define BATCH_HEAD 20 /* TOTALSIZE MAGIC BODYCRC FLAG BODYLENGTH */
#define BATCH_MIN 22  /* + PROPERTIESLENGTH */

/* ------------------------------------------------------------------ state from init() */

/* MessageExt's fields in declaration order; init() checks the type has exactly these. */
enum {
    M_STORE_SIZE, M_MAGIC, M_BODY_CRC, M_QUEUE_ID, M_FLAG, M_QUEUE_OFFSET,
    M_COMMIT_LOG_OFFSET, M_SYS_FLAG, M_BORN_TIMESTAMP, M_BORN_HOST, M_STORE_TIMESTAMP,
    M_STORE_HOST, M_RECONSUME_TIMES, M_PREPARED, M_BODY, M_TOPIC, M_PROPERTIES, M_COUNT
};
static const char *const message_fields[M_COUNT] = {
    "store_size", "magic", "body_crc", "queue_id", "flag", "queue_offset",
    "commit_log_offset", "sys_flag", "born_timestamp", "born_host", "store_timestamp",
    "store_host", "reconsume_times", "prepared_transaction_offset", "body", "topic",
    "properties",
};
enum { E_BODY, E_FLAG, E_PROPERTIES, E_COUNT };
static const char *const entry_fields[E_COUNT] = {"body", "flag", "properties"};

static PyTypeObject *message_type = NULL;
static PyTypeObject *entry_type = NULL;
static PyObject *properties_member = NULL; /* MessageExt's own "properties" slot descriptor */
static Py_ssize_t message_offsets[M_COUNT];
static Py_ssize_t entry_offsets[E_COUNT];

/* The Python references (and helpers) the C code hands unusual items to. */
static PyObject *py_decode_records = NULL;
static PyObject *py_host_from_wire = NULL;
static PyObject *py_decompress = NULL;
static PyObject *py_decode_batch = NULL;
static PyObject *py_decode_batch_messages = NULL;
static PyObject *py_encode_batch = NULL;
static PyObject *py_encode_properties = NULL;
static PyObject *py_decode_properties = NULL;
static PyObject *py_scan_properties = NULL;
static PyObject *py_unique_ids = NULL;

/* Constant values shared by every message built here. */
static PyObject *int_magic_v1 = NULL, *int_magic_v2 = NULL, *int_zero = NULL;

/* The type's instances must be exactly object + these slots (nothing else to fill). */
static int
check_fields(PyTypeObject *type, PyObject *fields, const char *const *names, int count)
{
    if (!PyTuple_Check(fields) || PyTuple_GET_SIZE(fields) != count) {
        PyErr_Format(PyExc_TypeError, "%s has other fields than rmq_protocol._records knows",
                     type->tp_name);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(fields, i);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, names[i]) != 0) {
            PyErr_Format(PyExc_TypeError, "%s field %d is not %s", type->tp_name, i, names[i]);
            return -1;
        }
    }
    if (type->tp_dictoffset != 0 || type->tp_itemsize != 0) {
        PyErr_Format(PyExc_TypeError, "%s is not a plain slotted class", type->tp_name);
        return -1;
    }
    return 0;
}

static void
keep(PyObject **where, PyObject *value)
{
    if (value != NULL) {
        Py_INCREF(value);
        Py_XSETREF(*where, value);
    }
}

/* init(**references): every keyword is optional and replaces what an earlier call set, so
 * each codec module registers its own references when it is imported. */
static PyObject *
records_init(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {
        "message_type", "message_fields", "properties_slot", "batch_entry_type",
        "batch_entry_fields", "decode_records", "host_from_wire", "decompress",
        "decode_batch", "decode_batch_messages", "encode_batch", "encode_properties",
        "decode_properties", "unique_ids", "scan_properties", NULL};
    PyObject *mtype = NULL, *mfields = NULL, *props_descr = NULL, *etype = NULL,
             *efields = NULL, *decode_records = NULL, *host_from_wire = NULL,
             *decompress = NULL, *decode_batch = NULL,
             *decode_batch_messages = NULL, *encode_batch = NULL, *encode_properties = NULL,
             *decode_properties = NULL, *unique_ids = NULL, *scan_properties = NULL;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "|$O!OOO!OOOOOOOOOOO:init", keywords, &PyType_Type, &mtype,
            &mfields, &props_descr, &PyType_Type, &etype, &efields, &decode_records,
            &host_from_wire, &decompress, &decode_batch, &decode_batch_messages,
            &encode_batch, &encode_properties, &decode_properties, &unique_ids,
            &scan_properties)) {
        return NULL;
    }
    if (mtype != NULL) {
        Py_ssize_t offsets[M_COUNT];
        if (mfields == NULL || props_descr == NULL) {
            PyErr_SetString(PyExc_TypeError,
                            "init: message_type needs message_fields and properties_slot");
            return NULL;
        }
        if (check_fields((PyTypeObject *)mtype, mfields, message_fields, M_COUNT) < 0) {
            return NULL;
        }
        for (int i = 0; i < M_COUNT; i++) {
            PyObject *descr = i == M_PROPERTIES ? props_descr : NULL;
            if (rmq_slot_offset((PyTypeObject *)mtype, descr, message_fields[i], &offsets[i]) < 0) {
                return NULL;
            }
        }
        memcpy(message_offsets, offsets, sizeof offsets);
        keep((PyObject **)&message_type, mtype);
        keep(&properties_member, props_descr);
    }
    if (etype != NULL) {
        Py_ssize_t offsets[E_COUNT];
        if (efields == NULL ||
            check_fields((PyTypeObject *)etype, efields, entry_fields, E_COUNT) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "init: batch_entry_type needs its fields");
            }
            return NULL;
        }
        for (int i = 0; i < E_COUNT; i++) {
            if (rmq_slot_offset((PyTypeObject *)etype, NULL, entry_fields[i], &offsets[i]) < 0) {
                return NULL;
            }
        }
        memcpy(entry_offsets, offsets, sizeof offsets);
        keep((PyObject **)&entry_type, etype);
    }
    keep(&py_decode_records, decode_records);
    keep(&py_host_from_wire, host_from_wire);
    keep(&py_decompress, decompress);
    keep(&py_decode_batch, decode_batch);
    keep(&py_decode_batch_messages, decode_batch_messages);
    keep(&py_encode_batch, encode_batch);
    keep(&py_encode_properties, encode_properties);
    keep(&py_decode_properties, decode_properties);
    keep(&py_unique_ids, unique_ids);
    keep(&py_scan_properties, scan_properties);
    Py_RETURN_NONE;
}

static int
need(PyObject *reference, const char *what)
{
    if (reference == NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "rmq_protocol._records.init() did not register %s yet", what);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ helpers */

/* Store value (a new reference, stolen) into an empty slot; -1 when value is NULL. */
static inline int
fill(PyObject *obj, Py_ssize_t offset, PyObject *value)
{
    if (value == NULL) return -1;
    *(PyObject **)((char *)obj + offset) = value;
    return 0;
}

static inline PyObject *
shared(PyObject *value)
{
    Py_INCREF(value);
    return value;
}

/* An instance of a plain slotted type with every slot empty (filled by the caller). */
static PyObject *
blank(PyTypeObject *type)
{
    return type->tp_alloc(type, 0);
}

/* Clears a UnicodeDecodeError (the caller then hands the item to Python) and returns 0;
 * returns -1, leaving it set, for any other error. */
static int
decode_failed(void)
{
    if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

static int
all_ascii(const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] & 0x80) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ small caches */

/* Decoded texts that repeat from record to record (topics, property names) and hosts,
 * direct-mapped by a hash of their bytes. A hit gives an equal object, so results are
 * the same as decoding afresh; a cached str also keeps its hash for the dict inserts. */
#define TEXT_CACHE 64
#define TEXT_CACHE_MAX 64 /* longest text cached, bytes */
static PyObject *text_cache[TEXT_CACHE];

static inline unsigned
bytes_hash(const unsigned char *p, Py_ssize_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)n;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* The str of the UTF-8 bytes p[:n] (a new reference), from the cache when it is there.
 * NULL with UnicodeDecodeError set when the bytes are not UTF-8. */
static PyObject *
cached_text(const unsigned char *p, Py_ssize_t n)
{
    if (n > TEXT_CACHE_MAX || !all_ascii(p, n)) {
        return PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    }
    PyObject **entry = &text_cache[bytes_hash(p, n) % TEXT_CACHE];
    PyObject *hit = *entry;
    if (hit != NULL && PyUnicode_GET_LENGTH(hit) == n &&
        memcmp(PyUnicode_DATA(hit), p, (size_t)n) == 0) {
        return shared(hit);
    }
    PyObject *text = PyUnicode_New(n, 127);
    if (text == NULL) return NULL;
    memcpy(PyUnicode_DATA(text), p, (size_t)n);
    Py_INCREF(text);
    Py_XSETREF(*entry, text);
    return text;
}

#define HOST_CACHE 64
static struct {
    Py_ssize_t len;
    unsigned char raw[20];
    PyObject *host;
} host_cache[HOST_CACHE];

/* The HostPort of a record's host field (address + int32 port, 8 or 20 bytes) as the
 * reference's _host_from_wire gives it: a new reference, or NULL with no exception set
 * when the port is not 0..65535 (the record then goes to the reference decoder). */
static PyObject *
host_of(const unsigned char *raw, Py_ssize_t len)
{
    unsigned index = bytes_hash(raw, len) % HOST_CACHE;
    if (host_cache[index].host != NULL && host_cache[index].len == len &&
        memcmp(host_cache[index].raw, raw, (size_t)len) == 0) {
        return shared(host_cache[index].host);
    }
    PyObject *wire = PyBytes_FromStringAndSize((const char *)raw, len);
    if (wire == NULL) return NULL;
    PyObject *host = PyObject_CallOneArg(py_host_from_wire, wire);
    Py_DECREF(wire);
    if (host == NULL) return NULL;
    if (host == Py_None) {
        Py_DECREF(host);
        return NULL;
    }
    host_cache[index].len = len;
    memcpy(host_cache[index].raw, raw, (size_t)len);
    Py_INCREF(host);
    Py_XSETREF(host_cache[index].host, host);
    return host;
}

/* ------------------------------------------------------------------ properties */

/* Whether the properties text p[:n] (UTF-8) has a pair named name as decode_properties
 * keeps pairs: a segment between 0x02s whose first 0x01 is neither its first nor its
 * last character. */
static int
has_property(const unsigned char *p, Py_ssize_t n, const char *name, Py_ssize_t name_len)
{
    Py_ssize_t at = 0;
    while (at <= n) {
        const unsigned char *seg = p + at;
        const unsigned char *stop = memchr(seg, 2, (size_t)(n - at));
        Py_ssize_t seg_len = stop == NULL ? n - at : stop - seg;
        const unsigned char *sep = memchr(seg, 1, (size_t)seg_len);
        if (sep != NULL && sep - seg == name_len && name_len > 0 &&
            seg_len - name_len - 1 > 0 && memcmp(seg, name, (size_t)name_len) == 0) {
            return 1;
        }
        at += seg_len + 1;
    }
    return 0;
}

/* decode_properties of the UTF-8 bytes p[:n] into a new dict (the text must be valid
 * UTF-8: the caller checked). Names are cached texts; values are decoded afresh. */
static PyObject *
properties_dict(const unsigned char *p, Py_ssize_t n)
{
    PyObject *props = PyDict_New();
    if (props == NULL) return NULL;
    Py_ssize_t at = 0;
    while (at <= n) {
        const unsigned char *seg = p + at;
        const unsigned char *stop = memchr(seg, 2, (size_t)(n - at));
        Py_ssize_t seg_len = stop == NULL ? n - at : stop - seg;
        const unsigned char *sep = memchr(seg, 1, (size_t)seg_len);
        if (sep != NULL && sep > seg && sep - seg < seg_len - 1) {
            PyObject *name = cached_text(seg, sep - seg);
            if (name == NULL) goto error;
            PyObject *value = PyUnicode_DecodeUTF8((const char *)sep + 1,
                                                   seg_len - (sep - seg) - 1, NULL);
            if (value == NULL) {
                Py_DECREF(name);
                goto error;
            }
            int bad = PyDict_SetItem(props, name, value);
            Py_DECREF(name);
            Py_DECREF(value);
            if (bad) goto error;
        }
        at += seg_len + 1;
    }
    return props;
error:
    Py_DECREF(props);
    return NULL;
}

/* Whether p[:n] is valid UTF-8 (1), not (0), or an error other than decoding (-1). */
static int
valid_utf8(const unsigned char *p, Py_ssize_t n)
{
    if (all_ascii(p, n)) return 1;
    PyObject *text = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    if (text != NULL) {
        Py_DECREF(text);
        return 1;
    }
    return decode_failed();
}

/* decode_properties(text) -> dict: the C mirror of properties.decode_properties. */
static PyObject *
records_decode_properties(PyObject *module, PyObject *text)
{
    if (need(py_decode_properties, "decode_properties") < 0) return NULL;
    if (!PyUnicode_CheckExact(text)) return PyObject_CallOneArg(py_decode_properties, text);
    Py_ssize_t n;
    const char *data = PyUnicode_AsUTF8AndSize(text, &n);
    if (data == NULL) { /* a lone surrogate has no UTF-8 form: the reference splits it */
        PyErr_Clear();
        return PyObject_CallOneArg(py_decode_properties, text);
    }
    return properties_dict((const unsigned char *)data, n);
}

/* scan_properties(text, names) -> tuple | None: the C mirror of
 * properties._scan_properties_py. None unless the text is canonical (every segment
 * "name 0x01 value 0x02", both non-empty, no other 0x01, no repeated name: exactly what
 * encode_properties(decode_properties(text)) gives back); else the value of each of
 * names (None where absent). More than SCAN_SEGMENTS segments, a text without UTF-8 form
 * or names that are not exact ASCII str are left to the reference. */
#define SCAN_SEGMENTS 64
static PyObject *
records_scan_properties(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "scan_properties(text, names) takes 2 arguments");
        return NULL;
    }
    if (need(py_scan_properties, "scan_properties") < 0) return NULL;
    PyObject *text = args[0], *names = args[1];
    if (!PyUnicode_CheckExact(text) || !PyTuple_CheckExact(names)) {
        return PyObject_Vectorcall(py_scan_properties, args, 2, NULL);
    }
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (!PyUnicode_CheckExact(name) || !PyUnicode_IS_ASCII(name)) {
            return PyObject_Vectorcall(py_scan_properties, args, 2, NULL);
        }
    }
    Py_ssize_t n;
    const char *data = PyUnicode_AsUTF8AndSize(text, &n);
    if (data == NULL) { /* a lone surrogate has no UTF-8 form: the reference decides */
        PyErr_Clear();
        return PyObject_Vectorcall(py_scan_properties, args, 2, NULL);
    }
    const unsigned char *p = (const unsigned char *)data;
    if (n == 0 || p[n - 1] != 2) Py_RETURN_NONE;
    Py_ssize_t starts[SCAN_SEGMENTS], lengths[SCAN_SEGMENTS], values[SCAN_SEGMENTS];
    Py_ssize_t segments = 0, at = 0;
    while (at < n) {
        const unsigned char *seg = p + at;
        const unsigned char *stop = memchr(seg, 2, (size_t)(n - at)); /* found: p ends in 2 */
        Py_ssize_t seg_len = stop - seg;
        const unsigned char *sep = memchr(seg, 1, (size_t)seg_len);
        if (sep == NULL || sep == seg || sep - seg == seg_len - 1 ||
            memchr(sep + 1, 1, (size_t)(seg_len - (sep - seg) - 1)) != NULL) {
            Py_RETURN_NONE; /* no separator, an empty name or value, or a second 0x01 */
        }
        if (segments == SCAN_SEGMENTS) {
            return PyObject_Vectorcall(py_scan_properties, args, 2, NULL);
        }
        Py_ssize_t name_len = sep - seg;
        for (Py_ssize_t j = 0; j < segments; j++) {
            if (lengths[j] == name_len && memcmp(p + starts[j], seg, (size_t)name_len) == 0) {
                Py_RETURN_NONE; /* a repeated name: decoding would merge the two */
            }
        }
        starts[segments] = at;
        lengths[segments] = name_len;
        values[segments] = seg_len - name_len - 1;
        segments++;
        at += seg_len + 1;
    }
    PyObject *result = PyTuple_New(count);
    if (result == NULL) return NULL;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        Py_ssize_t name_len = PyUnicode_GET_LENGTH(name);
        const char *name_data = (const char *)PyUnicode_DATA(name);
        PyObject *value = Py_None;
        for (Py_ssize_t j = 0; j < segments; j++) {
            if (lengths[j] == name_len && memcmp(p + starts[j], name_data, (size_t)name_len) == 0) {
                value = PyUnicode_DecodeUTF8((const char *)p + starts[j] + name_len + 1,
                                             values[j], NULL);
                if (value == NULL) {
                    Py_DECREF(result);
                    return NULL;
                }
                break;
            }
        }
        if (value == Py_None) Py_INCREF(value);
        PyTuple_SET_ITEM(result, k, value);
    }
    return result;
}

/* Does item (an exact str) hold a separator character? 0 no, 1 yes. */
static int
has_separator(PyObject *item)
{
    int kind = PyUnicode_KIND(item);
    const void *data = PyUnicode_DATA(item);
    Py_ssize_t n = PyUnicode_GET_LENGTH(item);
    if (kind == PyUnicode_1BYTE_KIND) {
        return memchr(data, 1, (size_t)n) != NULL || memchr(data, 2, (size_t)n) != NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == 1 || c == 2) return 1;
    }
    return 0;
}

/* A dict encode_properties can take without asking the reference: exact str names and
 * values, none empty, none holding a separator. Sets *length (characters) and *maxchar. */
static int
plain_properties(PyObject *props, Py_ssize_t *length, Py_UCS4 *maxchar)
{
    Py_ssize_t pos = 0, total = 0;
    Py_UCS4 widest = 0;
    PyObject *name, *value;
    while (PyDict_Next(props, &pos, &name, &value)) {
        if (!PyUnicode_CheckExact(name) || !PyUnicode_CheckExact(value)) return 0;
        Py_ssize_t a = PyUnicode_GET_LENGTH(name), b = PyUnicode_GET_LENGTH(value);
        if (a == 0 || b == 0 || has_separator(name) || has_separator(value)) return 0;
        Py_UCS4 m = PyUnicode_MAX_CHAR_VALUE(name);
        if (m > widest) widest = m;
        m = PyUnicode_MAX_CHAR_VALUE(value);
        if (m > widest) widest = m;
        total += a + b + 2;
    }
    *length = total;
    *maxchar = widest;
    return 1;
}

/* encode_properties(props) -> str: the C mirror of properties.encode_properties. */
static PyObject *
records_encode_properties(PyObject *module, PyObject *props)
{
    if (need(py_encode_properties, "encode_properties") < 0) return NULL;
    Py_ssize_t length;
    Py_UCS4 maxchar;
    if (!PyDict_CheckExact(props) || !plain_properties(props, &length, &maxchar)) {
        return PyObject_CallOneArg(py_encode_properties, props);
    }
    PyObject *text = PyUnicode_New(length, maxchar);
    if (text == NULL) return NULL;
    Py_ssize_t pos = 0, at = 0;
    PyObject *name, *value;
    int kind = PyUnicode_KIND(text);
    void *out = PyUnicode_DATA(text);
    while (PyDict_Next(props, &pos, &name, &value)) {
        PyObject *items[2] = {name, value};
        for (int i = 0; i < 2; i++) {
            Py_ssize_t n = PyUnicode_GET_LENGTH(items[i]);
            if (at + n + 1 > length) { /* the dict changed size: cannot happen, no code ran */
                Py_DECREF(text);
                PyErr_SetString(PyExc_RuntimeError, "encode_properties: dict changed size");
                return NULL;
            }
            if (kind == PyUnicode_1BYTE_KIND) {
                memcpy((char *)out + at, PyUnicode_DATA(items[i]), (size_t)n);
            } else if (PyUnicode_CopyCharacters(text, at, items[i], 0, n) < 0) {
                Py_DECREF(text);
                return NULL;
            }
            at += n;
            PyUnicode_WRITE(kind, out, at, i == 0 ? 1 : 2);
            at++;
        }
    }
    return text;
}

/* ------------------------------------------------------------------ decode_records */

/* decode_records(out, data, pos, limit, decompress, check_crc, base, single, budget) -> int
 *
 * The C mirror of message._decode_records_py: appends the MessageExt of every record of
 * data[pos:limit] (or only the first, when single) to the list out and returns the offset
 * after the last one. A record the fast loop does not take (anything that does not add up,
 * text that is not UTF-8, a host port out of range, a BODYCRC mismatch when check_crc) is
 * decoded by one call of the reference with single=True, which raises its precise error or
 * decodes it; compressed bodies are inflated by the reference's _decompress. */
static PyObject *
records_decode_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "decode_records(out, data, pos, limit, decompress, "
                                         "check_crc, base, single, budget)");
        return NULL;
    }
    if (need((PyObject *)message_type, "message_type") < 0 || need(py_decode_records, "decode_records") < 0 ||
        need(py_host_from_wire, "host_from_wire") < 0 || need(py_decompress, "decompress") < 0) {
        return NULL;
    }
    PyObject *out = args[0], *data = args[1], *budget = args[8];
    if (!PyList_Check(out) || !PyBytes_CheckExact(data) || !PyList_Check(budget)) {
        PyErr_SetString(PyExc_TypeError,
                        "decode_records needs a list, bytes, ..., and a list budget");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[2]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    Py_ssize_t base = PyLong_AsSsize_t(args[6]);
    if (PyErr_Occurred()) return NULL;
    int decompress = PyObject_IsTrue(args[4]);
    int check_crc = PyObject_IsTrue(args[5]);
    int single = PyObject_IsTrue(args[7]);
    if (decompress < 0 || check_crc < 0 || single < 0) return NULL;
    if (pos < 0 || limit > PyBytes_GET_SIZE(data) || base < 0 || base > PY_SSIZE_T_MAX / 2) {
        /* not a call the codec makes: the reference answers it */
        return PyObject_Vectorcall(py_decode_records, args, 9, NULL);
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
    while (pos < limit) {
        PyObject *topic = NULL, *props = NULL, *born = NULL, *store = NULL, *body = NULL;
        PyObject *sys_flag_obj = NULL, *m = NULL;
        Py_ssize_t left = limit - pos;
        if (left < 88) goto slow;
        const unsigned char *r = d + pos;
        int32_t sys_flag = (int32_t)get32(r + 36);
        Py_ssize_t born_len = (sys_flag & 0x10) ? 20 : 8, store_len = (sys_flag & 0x20) ? 20 : 8;
        Py_ssize_t fixed = 72 + born_len + store_len;
        if (left < fixed) goto slow;
        int32_t size = (int32_t)get32(r);
        uint32_t magic = get32(r + 4);
        const unsigned char *tail = r + 48 + born_len; /* STORETIMESTAMP */
        int32_t body_len = (int32_t)get32(tail + 20 + store_len);
        int64_t start = (int64_t)pos + fixed, end = (int64_t)pos + size;
        int64_t body_end = start + body_len, topic_len, topic_start;
        if (magic == MAGIC_V1) {
            if (end > limit || body_len < 0 || body_end + 3 > end) goto slow;
            topic_len = d[body_end];
            topic_start = body_end + 1;
            if (topic_len > MAX_TOPIC_LENGTH_V1) goto slow;
        } else if (magic == MAGIC_V2) {
            if (end > limit || body_len < 0 || body_end + 4 > end) goto slow;
            topic_len = get16s(d + body_end);
            topic_start = body_end + 2;
        } else {
            goto slow;
        }
        int64_t topic_end = topic_start + topic_len;
        if (topic_len < 0 || topic_end + 2 > end) goto slow;
        int64_t props_start = topic_end + 2;
        if (props_start + get16s(d + topic_end) != end) goto slow;

        topic = cached_text(d + topic_start, (Py_ssize_t)topic_len);
        if (topic == NULL) goto undecodable;
        props = PyUnicode_DecodeUTF8((const char *)d + props_start,
                                     (Py_ssize_t)(end - props_start), NULL);
        if (props == NULL) goto undecodable;
        born = host_of(r + 48, born_len);
        if (born == NULL) goto undecodable;
        store = host_of(tail + 8, store_len);
        if (store == NULL) goto undecodable;
        body = PyBytes_FromStringAndSize((const char *)d + start, body_len);
        if (body == NULL) goto error;
        if (check_crc) {
            uint32_t value = rmq_crc32(0, d + start, (size_t)body_len);
            if ((int64_t)(value & 0x7FFFFFFFu) != (int32_t)get32(r + 8)) goto slow;
        }
        if (decompress && (sys_flag & 1) && body_len > 0) {
            PyObject *room = PyList_GetItem(budget, 0); /* borrowed */
            if (room == NULL) goto error;
            Py_INCREF(room);
            PyObject *call[4] = {body, PyLong_FromLong(sys_flag),
                                 PyLong_FromSsize_t(base + (Py_ssize_t)start), room};
            PyObject *inflated = NULL;
            if (call[1] != NULL && call[2] != NULL) {
                inflated = PyObject_Vectorcall(py_decompress, call, 4, NULL);
            }
            Py_XDECREF(call[1]);
            Py_XDECREF(call[2]);
            if (inflated == NULL) {
                Py_DECREF(room);
                goto error;
            }
            Py_SETREF(body, inflated);
            Py_ssize_t inflated_len = PyObject_Length(body);
            PyObject *used = inflated_len < 0 ? NULL : PyLong_FromSsize_t(inflated_len);
            PyObject *rest = used == NULL ? NULL : PyNumber_Subtract(room, used);
            Py_XDECREF(used);
            Py_DECREF(room);
            if (rest == NULL || PyList_SetItem(budget, 0, rest) < 0) goto error;
            sys_flag &= ~1;
        }
        sys_flag_obj = PyLong_FromLong(sys_flag);
        if (sys_flag_obj == NULL) goto error;

        m = blank(message_type);
        if (m == NULL) goto error;
        const Py_ssize_t *o = message_offsets;
        if (fill(m, o[M_STORE_SIZE], PyLong_FromLong(size)) < 0 ||
            fill(m, o[M_MAGIC], shared(magic == MAGIC_V1 ? int_magic_v1 : int_magic_v2)) < 0 ||
            fill(m, o[M_BODY_CRC], PyLong_FromLong((int32_t)get32(r + 8))) < 0 ||
            fill(m, o[M_QUEUE_ID], PyLong_FromLong((int32_t)get32(r + 12))) < 0 ||
            fill(m, o[M_FLAG], PyLong_FromLong((int32_t)get32(r + 16))) < 0 ||
            fill(m, o[M_QUEUE_OFFSET], PyLong_FromLongLong((int64_t)get64(r + 20))) < 0 ||
            fill(m, o[M_COMMIT_LOG_OFFSET], PyLong_FromLongLong((int64_t)get64(r + 28))) < 0 ||
            fill(m, o[M_BORN_TIMESTAMP], PyLong_FromLongLong((int64_t)get64(r + 40))) < 0 ||
            fill(m, o[M_STORE_TIMESTAMP], PyLong_FromLongLong((int64_t)get64(tail))) < 0 ||
            fill(m, o[M_RECONSUME_TIMES],
                 PyLong_FromLong((int32_t)get32(tail + 8 + store_len))) < 0 ||
            fill(m, o[M_PREPARED], PyLong_FromLongLong((int64_t)get64(tail + 12 + store_len))) <
                0) {
            goto error;
        }
        /* the rest cannot fail: the slots take the references made above */
        fill(m, o[M_SYS_FLAG], sys_flag_obj);
        fill(m, o[M_BORN_HOST], born);
        fill(m, o[M_STORE_HOST], store);
        fill(m, o[M_BODY], body);
        fill(m, o[M_TOPIC], topic);
        fill(m, o[M_PROPERTIES], props); /* the text: parsed on first read */
        int bad = PyList_Append(out, m);
        Py_DECREF(m);
        if (bad) return NULL;
        pos = (Py_ssize_t)end;
        if (single) break;
        continue;

    undecodable: /* NULL: UnicodeDecodeError or a bad port (no error) go to the reference */
        if (PyErr_Occurred() && decode_failed() < 0) goto error;
    slow:
        Py_XDECREF(topic);
        Py_XDECREF(props);
        Py_XDECREF(born);
        Py_XDECREF(store);
        Py_XDECREF(body);
        Py_XDECREF(sys_flag_obj);
        {
            PyObject *at = PyLong_FromSsize_t(pos);
            if (at == NULL) return NULL;
            PyObject *call[9] = {out, data, at, args[3], args[4], args[5], args[6], Py_True,
                                 budget};
            PyObject *next = PyObject_Vectorcall(py_decode_records, call, 9, NULL);
            Py_DECREF(at);
            if (next == NULL) return NULL;
            pos = PyLong_AsSsize_t(next);
            Py_DECREF(next);
            if (pos == -1 && PyErr_Occurred()) return NULL;
        }
        if (single) break;
        continue;

    error:
        Py_XDECREF(m); /* only its int slots were filled: the locals are still ours */
        Py_XDECREF(topic);
        Py_XDECREF(props);
        Py_XDECREF(born);
        Py_XDECREF(store);
        Py_XDECREF(body);
        Py_XDECREF(sys_flag_obj);
        return NULL;
    }
    return PyLong_FromSsize_t(pos);
}

/* ------------------------------------------------------------------ batch bodies */

/* A C-contiguous byte view of a batch body; 0 when the reference must take it (an
 * unusual buffer). view->obj is NULL when nothing was acquired. */
static int
batch_view(PyObject *body, Py_buffer *view)
{
    view->obj = NULL;
    if (!PyBytes_CheckExact(body) && !PyByteArray_CheckExact(body) && !PyMemoryView_Check(body)) {
        return 0;
    }
    if (PyObject_GetBuffer(body, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        view->obj = NULL;
        return 0;
    }
    if (view->itemsize != 1 || (view->format != NULL && strcmp(view->format, "B") != 0 &&
                                strcmp(view->format, "b") != 0 && strcmp(view->format, "c") != 0)) {
        PyBuffer_Release(view);
        view->obj = NULL;
        return 0;
    }
    return 1;
}

typedef struct {
    int32_t flag;
    Py_ssize_t body_at, body_len, props_at, props_len;
} BatchItem;

/* The next entry of a batch body at *pos, checked as decode_batch checks it. 1 taken, 0
 * for anything the reference must judge (malformed, or properties that are not UTF-8),
 * -1 on another error. */
static int
next_entry(const unsigned char *d, Py_ssize_t limit, Py_ssize_t *pos, BatchItem *item)
{
    Py_ssize_t at = *pos, left = limit - at;
    if (left < BATCH_MIN) return 0;
    int32_t size = (int32_t)get32(d + at);
    int32_t body_len = (int32_t)get32(d + at + 16);
    if (size < BATCH_MIN || size > left) return 0;
    if (body_len < 0 || body_len > size - BATCH_MIN) return 0;
    Py_ssize_t body_end = at + BATCH_HEAD + body_len;
    int16_t props_len = get16s(d + body_end);
    if (props_len < 0 || body_end + 2 + props_len != at + size) return 0;
    int valid = valid_utf8(d + body_end + 2, props_len);
    if (valid <= 0) return valid;
    item->flag = (int32_t)get32(d + at + 12);
    item->body_at = at + BATCH_HEAD;
    item->body_len = body_len;
    item->props_at = body_end + 2;
    item->props_len = props_len;
    *pos = at + size;
    return 1;
}

/* decode_batch(body) -> list[BatchEntry]: the C mirror of message.decode_batch. */
static PyObject *
records_decode_batch(PyObject *module, PyObject *body)
{
    if (need((PyObject *)entry_type, "batch_entry_type") < 0 || need(py_decode_batch, "decode_batch") < 0) {
        return NULL;
    }
    Py_buffer view;
    if (!batch_view(body, &view)) return PyObject_CallOneArg(py_decode_batch, body);
    const unsigned char *d = view.buf;
    Py_ssize_t limit = view.len, pos = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL) goto error;
    while (pos < limit) {
        BatchItem item;
        int taken = next_entry(d, limit, &pos, &item);
        if (taken < 0) goto error;
        if (taken == 0) {
            Py_DECREF(out);
            PyBuffer_Release(&view);
            return PyObject_CallOneArg(py_decode_batch, body);
        }
        PyObject *entry = blank(entry_type);
        if (entry == NULL) goto error;
        if (fill(entry, entry_offsets[E_BODY],
                 PyBytes_FromStringAndSize((const char *)d + item.body_at, item.body_len)) < 0 ||
            fill(entry, entry_offsets[E_FLAG], PyLong_FromLong(item.flag)) < 0 ||
            fill(entry, entry_offsets[E_PROPERTIES],
                 properties_dict(d + item.props_at, item.props_len)) < 0) {
            Py_DECREF(entry);
            goto error;
        }
        int bad = PyList_Append(out, entry);
        Py_DECREF(entry);
        if (bad) goto error;
    }
    PyBuffer_Release(&view);
    return out;
error:
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

/* decode_batch_messages(body, topic, queue_id, sys_flag, born_timestamp, born_host,
 *                       store_host, reconsume_times, watch, text_properties)
 *     -> (list[MessageExt], list[int])
 *
 * The C mirror of message.decode_batch_messages_py. */

/* The fields of a message a broker stores for a send that neither the entry nor the
 * store gives: topic, queue id, and args[3..7] (sys flag, born timestamp, born host,
 * store host, reconsume times) shared, the rest their defaults. Cannot fail. */
static void
fill_stored_fields(PyObject *m, PyObject *topic, PyObject *queue_id, PyObject *const *args)
{
    const Py_ssize_t *o = message_offsets;
    fill(m, o[M_STORE_SIZE], shared(int_zero));
    fill(m, o[M_MAGIC], shared(int_magic_v1));
    fill(m, o[M_BODY_CRC], shared(int_zero));
    fill(m, o[M_QUEUE_ID], shared(queue_id));
    fill(m, o[M_QUEUE_OFFSET], shared(int_zero));
    fill(m, o[M_COMMIT_LOG_OFFSET], shared(int_zero));
    fill(m, o[M_SYS_FLAG], shared(args[3]));
    fill(m, o[M_BORN_TIMESTAMP], shared(args[4]));
    fill(m, o[M_BORN_HOST], shared(args[5]));
    fill(m, o[M_STORE_TIMESTAMP], shared(int_zero));
    fill(m, o[M_STORE_HOST], shared(args[6]));
    fill(m, o[M_RECONSUME_TIMES], shared(args[7]));
    fill(m, o[M_PREPARED], shared(int_zero));
    fill(m, o[M_TOPIC], shared(topic));
}

static PyObject *
records_decode_batch_messages(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError,
                        "decode_batch_messages(body, topic, queue_id, sys_flag, born_timestamp, "
                        "born_host, store_host, reconsume_times, watch, text_properties)");
        return NULL;
    }
    if (need((PyObject *)message_type, "message_type") < 0 ||
        need(py_decode_batch_messages, "decode_batch_messages") < 0) {
        return NULL;
    }
    PyObject *watch = args[8];
    int text_mode = PyObject_IsTrue(args[9]);
    if (text_mode < 0) return NULL;
    Py_ssize_t watch_len = 0;
    const char *watch_data = NULL;
    if (PyUnicode_CheckExact(watch)) {
        watch_data = PyUnicode_AsUTF8AndSize(watch, &watch_len);
        if (watch_data == NULL) PyErr_Clear();
    }
    Py_buffer view;
    if (watch_data == NULL || !batch_view(args[0], &view)) {
        return PyObject_Vectorcall(py_decode_batch_messages, args, 10, NULL);
    }
    const unsigned char *d = view.buf;
    Py_ssize_t limit = view.len, pos = 0, index = 0;
    PyObject *messages = PyList_New(0), *watched = PyList_New(0);
    if (messages == NULL || watched == NULL) goto error;
    const Py_ssize_t *o = message_offsets;
    while (pos < limit) {
        BatchItem item;
        int taken = next_entry(d, limit, &pos, &item);
        if (taken < 0) goto error;
        if (taken == 0) {
            Py_DECREF(messages);
            Py_DECREF(watched);
            PyBuffer_Release(&view);
            return PyObject_Vectorcall(py_decode_batch_messages, args, 10, NULL);
        }
        const unsigned char *text = d + item.props_at;
        if (has_property(text, item.props_len, watch_data, watch_len)) {
            PyObject *at = PyLong_FromSsize_t(index);
            if (at == NULL || PyList_Append(watched, at) < 0) {
                Py_XDECREF(at);
                goto error;
            }
            Py_DECREF(at);
        }
        PyObject *m = blank(message_type);
        if (m == NULL) goto error;
        PyObject *props = text_mode
            ? PyUnicode_DecodeUTF8((const char *)text, item.props_len, NULL)
            : properties_dict(text, item.props_len);
        if (fill(m, o[M_PROPERTIES], props) < 0 ||
            fill(m, o[M_BODY],
                 PyBytes_FromStringAndSize((const char *)d + item.body_at, item.body_len)) < 0 ||
            fill(m, o[M_FLAG], PyLong_FromLong(item.flag)) < 0) {
            Py_DECREF(m);
            goto error;
        }
        fill_stored_fields(m, args[1], args[2], args);
        int bad = PyList_Append(messages, m);
        Py_DECREF(m);
        if (bad) goto error;
        index++;
    }
    PyBuffer_Release(&view);
    PyObject *result = PyTuple_Pack(2, messages, watched);
    Py_DECREF(messages);
    Py_DECREF(watched);
    return result;
error:
    Py_XDECREF(messages);
    Py_XDECREF(watched);
    PyBuffer_Release(&view);
    return NULL;
}

/* The UTF-8 size of a dict's properties text, or -1 (no exception set) when the reference
 * must encode it (see plain_properties; also a lone surrogate or more than 32767 bytes). */
static Py_ssize_t
properties_size(PyObject *props)
{
    Py_ssize_t pos = 0, total = 0;
    PyObject *name, *value;
    while (PyDict_Next(props, &pos, &name, &value)) {
        if (!PyUnicode_CheckExact(name) || !PyUnicode_CheckExact(value)) return -1;
        Py_ssize_t a, b;
        const char *x = PyUnicode_AsUTF8AndSize(name, &a);
        const char *y = x == NULL ? NULL : PyUnicode_AsUTF8AndSize(value, &b);
        if (y == NULL) {
            PyErr_Clear();
            return -1;
        }
        if (a == 0 || b == 0 || memchr(x, 1, (size_t)a) || memchr(x, 2, (size_t)a) ||
            memchr(y, 1, (size_t)b) || memchr(y, 2, (size_t)b)) {
            return -1;
        }
        total += a + b + 2;
        if (total > MAX_PROPERTIES_LENGTH) return -1;
    }
    return total;
}

/* encode_batch(entries) -> bytes: the C mirror of message.encode_batch, for a list or
 * tuple of BatchEntry; anything else, or any entry the reference must judge, goes to the
 * reference with the same argument. */
static PyObject *
records_encode_batch(PyObject *module, PyObject *entries)
{
    if (need((PyObject *)entry_type, "batch_entry_type") < 0 || need(py_encode_batch, "encode_batch") < 0) {
        return NULL;
    }
    if (!PyList_CheckExact(entries) && !PyTuple_CheckExact(entries)) {
        return PyObject_CallOneArg(py_encode_batch, entries);
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(entries), total = 0;
    PyObject **items = PySequence_Fast_ITEMS(entries);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *entry = items[i];
        if (Py_TYPE(entry) != entry_type) goto slow;
        PyObject *body = slot(entry, entry_offsets[E_BODY]);
        PyObject *flag = slot(entry, entry_offsets[E_FLAG]);
        PyObject *props = slot(entry, entry_offsets[E_PROPERTIES]);
        if (body == NULL || flag == NULL || props == NULL || !PyBytes_CheckExact(body) ||
            !PyLong_CheckExact(flag) || !PyDict_CheckExact(props)) {
            goto slow;
        }
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(flag, &overflow);
        if (overflow || value < INT32_MIN || value > INT32_MAX) goto slow;
        Py_ssize_t props_len = properties_size(props);
        if (props_len < 0) goto slow;
        Py_ssize_t size = BATCH_MIN + PyBytes_GET_SIZE(body) + props_len;
        if (size > INT32_MAX || total > PY_SSIZE_T_MAX - size) goto slow;
        total += size;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) return NULL;
    char *p = PyBytes_AS_STRING(out), *stop = p + total;
    /* No Python code ran since the checks (bytes are not tracked by the GC): the entries
     * are as checked; the bounds are checked again all the same. */
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *entry = items[i];
        PyObject *body = slot(entry, entry_offsets[E_BODY]);
        PyObject *props = slot(entry, entry_offsets[E_PROPERTIES]);
        Py_ssize_t body_len = PyBytes_GET_SIZE(body), props_len = properties_size(props);
        Py_ssize_t size = BATCH_MIN + body_len + props_len;
        if (props_len < 0 || stop - p < size) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_RuntimeError, "encode_batch: entries changed while encoding");
            return NULL;
        }
        put32(p, (uint32_t)size);
        memset(p + 4, 0, 8); /* MAGICCODE, BODYCRC */
        put32(p + 12, (uint32_t)PyLong_AsLong(slot(entry, entry_offsets[E_FLAG])));
        put32(p + 16, (uint32_t)body_len);
        memcpy(p + BATCH_HEAD, PyBytes_AS_STRING(body), (size_t)body_len);
        p += BATCH_HEAD + body_len;
        p[0] = (char)(props_len >> 8);
        p[1] = (char)props_len;
        p += 2;
        Py_ssize_t pos = 0, n;
        PyObject *name, *value;
        while (PyDict_Next(props, &pos, &name, &value)) {
            const char *text = PyUnicode_AsUTF8AndSize(name, &n); /* cached by the check */
            memcpy(p, text, (size_t)n);
            p += n;
            *p++ = 1;
            text = PyUnicode_AsUTF8AndSize(value, &n);
            memcpy(p, text, (size_t)n);
            p += n;
            *p++ = 2;
        }
    }
    return out;
slow:
    return PyObject_CallOneArg(py_encode_batch, entries);
}

/* ------------------------------------------------------------------ unique ids */

static const char hex_digits[] = "0123456789ABCDEF";

/* One id: prefix + 8 hex digits of span + 4 of counter, into a new ASCII str. */
static PyObject *
format_id(PyObject *prefix, uint32_t span, uint32_t counter)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(prefix);
    PyObject *text = PyUnicode_New(n + 12, 127);
    if (text == NULL) return NULL;
    char *p = (char *)PyUnicode_DATA(text);
    memcpy(p, PyUnicode_DATA(prefix), (size_t)n);
    p += n;
    for (int i = 7; i >= 0; i--) *p++ = hex_digits[(span >> (4 * i)) & 0xF];
    for (int i = 3; i >= 0; i--) *p++ = hex_digits[(counter >> (4 * i)) & 0xF];
    return text;
}

/* The next counter value & 0xFFFF, or -1 with an exception set. An int from the counter
 * (itertools.count) is masked here; anything else takes Python's & and must give an int. */
static long
next_counter(PyObject *counter, PyObject *mask)
{
    PyObject *value = Py_TYPE(counter)->tp_iternext(counter);
    if (value == NULL) {
        if (!PyErr_Occurred()) PyErr_SetNone(PyExc_StopIteration);
        return -1;
    }
    if (!PyLong_CheckExact(value)) {
        Py_SETREF(value, PyNumber_And(value, mask));
        if (value == NULL) return -1;
        if (!PyLong_Check(value)) {
            PyErr_Format(PyExc_TypeError, "unique id counter & 0xFFFF gave %.100s, not an int",
                         Py_TYPE(value)->tp_name);
            Py_DECREF(value);
            return -1;
        }
    }
    unsigned long long bits = PyLong_AsUnsignedLongLongMask(value);
    Py_DECREF(value);
    if (bits == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    return (long)(bits & 0xFFFF);
}

/* The common case of unique ids: an ASCII prefix, a span in 0..0xFFFFFFFF and an
 * iterator counter; 0 when the reference must format them. */
static int
plain_id_args(PyObject *prefix, PyObject *span_obj, PyObject *counter, uint32_t *span)
{
    if (!PyUnicode_CheckExact(prefix) || !PyUnicode_IS_ASCII(prefix) ||
        !PyLong_CheckExact(span_obj) || !PyIter_Check(counter)) {
        return 0;
    }
    int overflow;
    long long value = PyLong_AsLongLongAndOverflow(span_obj, &overflow);
    if (overflow || value < 0 || value > 0xFFFFFFFFLL) return 0;
    *span = (uint32_t)value;
    return 1;
}

static PyObject *int_mask = NULL; /* 0xFFFF */

/* unique_ids(prefix, span, counter, n) -> list[str]: the C mirror of msgid._unique_ids_py. */
static PyObject *
records_unique_ids(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "unique_ids(prefix, span, counter, n)");
        return NULL;
    }
    if (need(py_unique_ids, "unique_ids") < 0) return NULL;
    uint32_t span;
    Py_ssize_t n = PyLong_CheckExact(args[3]) ? PyLong_AsSsize_t(args[3]) : -1;
    if (n == -1 && PyErr_Occurred()) PyErr_Clear();
    if (n < 0 || !plain_id_args(args[0], args[1], args[2], &span)) {
        return PyObject_Vectorcall(py_unique_ids, args, 4, NULL);
    }
    PyObject *out = PyList_New(n);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        long counter = next_counter(args[2], int_mask);
        PyObject *id = counter < 0 ? NULL : format_id(args[0], span, (uint32_t)counter);
        if (id == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, id);
    }
    return out;
}

/* unique_id(prefix, span, counter) -> str: one id, as unique_ids(prefix, span, counter, 1)[0]. */
static PyObject *
records_unique_id(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "unique_id(prefix, span, counter)");
        return NULL;
    }
    if (need(py_unique_ids, "unique_ids") < 0) return NULL;
    uint32_t span;
    if (!plain_id_args(args[0], args[1], args[2], &span)) {
        PyObject *one = PyLong_FromLong(1);
        if (one == NULL) return NULL;
        PyObject *call[4] = {args[0], args[1], args[2], one};
        PyObject *ids = PyObject_Vectorcall(py_unique_ids, call, 4, NULL);
        Py_DECREF(one);
        if (ids == NULL) return NULL;
        PyObject *id = PySequence_GetItem(ids, 0);
        Py_DECREF(ids);
        return id;
    }
    long counter = next_counter(args[2], int_mask);
    return counter < 0 ? NULL : format_id(args[0], span, (uint32_t)counter);
}

/* ------------------------------------------------------------------ LazyProperties */

/* The C mirror of message._LazyProperties: MessageExt's "properties" attribute. The slot
 * of a decoded message holds the undecoded text until first read; reading parses it
 * (decode_properties) and stores the dict. Anything but a MessageExt with the slot set goes
 * to the slot's own descriptor, which raises its usual errors. */
typedef struct {
    PyObject_HEAD
} LazyProperties;

static PyObject *
lazy_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) return shared(self);
    if (need(properties_member, "properties_slot") < 0) return NULL;
    PyObject *value = Py_TYPE(obj) == message_type
        ? slot(obj, message_offsets[M_PROPERTIES]) : NULL;
    if (value == NULL) {
        return Py_TYPE(properties_member)->tp_descr_get(properties_member, obj, type);
    }
    if (!PyUnicode_CheckExact(value)) return shared(value);
    PyObject *parsed = records_decode_properties(NULL, value);
    if (parsed == NULL) return NULL;
    PyObject **where = (PyObject **)((char *)obj + message_offsets[M_PROPERTIES]);
    Py_INCREF(parsed);
    Py_SETREF(*where, parsed);
    return parsed;
}

static int
lazy_set(PyObject *self, PyObject *obj, PyObject *value)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "__delete__");
        return -1;
    }
    if (need(properties_member, "properties_slot") < 0) return -1;
    return Py_TYPE(properties_member)->tp_descr_set(properties_member, obj, value);
}

static PyTypeObject LazyPropertiesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rmq_protocol._records.LazyProperties",
    .tp_doc = "MessageExt.properties: parses the stored text on first read.",
    .tp_basicsize = sizeof(LazyProperties),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_descr_get = lazy_get,
    .tp_descr_set = lazy_set,
};

/* ------------------------------------------------------------------ module */

/* ------------------------------------------------------------------ new_message */

/* new_message(topic, queue_id, flag, sys_flag, born_timestamp, born_host, store_host,
 * reconsume_times, body, properties): message.new_message_py in C. The values are stored
 * as given (no check, no conversion), every other field takes MessageExt's default. */
static PyObject *
records_new_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_Format(PyExc_TypeError, "new_message() takes 10 positional arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (need((PyObject *)message_type, "message_type") < 0) return NULL;
    PyObject *m = blank(message_type);
    if (m == NULL) return NULL;
    const Py_ssize_t *o = message_offsets;
    fill_stored_fields(m, args[0], args[1], args);
    fill(m, o[M_FLAG], shared(args[2]));
    fill(m, o[M_BODY], shared(args[8]));
    fill(m, o[M_PROPERTIES], shared(args[9]));
    return m;
}

static PyMethodDef records_methods[] = {
    {"init", (PyCFunction)(void (*)(void))records_init, METH_VARARGS | METH_KEYWORDS,
     "Register the codec's types and reference functions (each keyword optional)."},
    {"decode_records", (PyCFunction)(void (*)(void))records_decode_records, METH_FASTCALL,
     "The C mirror of message._decode_records_py."},
    {"decode_batch", records_decode_batch, METH_O, "The C mirror of message.decode_batch."},
    {"new_message", (PyCFunction)(void (*)(void))records_new_message, METH_FASTCALL,
     "The C mirror of message.new_message."},
    {"decode_batch_messages", (PyCFunction)(void (*)(void))records_decode_batch_messages,
     METH_FASTCALL, "The C mirror of message.decode_batch_messages_py."},
    {"encode_batch", records_encode_batch, METH_O, "The C mirror of message.encode_batch."},
    {"encode_properties", records_encode_properties, METH_O,
     "The C mirror of properties.encode_properties."},
    {"decode_properties", records_decode_properties, METH_O,
     "The C mirror of properties.decode_properties."},
    {"scan_properties", (PyCFunction)(void (*)(void))records_scan_properties, METH_FASTCALL,
     "The C mirror of properties._scan_properties_py."},
    {"unique_ids", (PyCFunction)(void (*)(void))records_unique_ids, METH_FASTCALL,
     "The C mirror of msgid._unique_ids_py."},
    {"unique_id", (PyCFunction)(void (*)(void))records_unique_id, METH_FASTCALL,
     "One unique id (unique_ids with n=1)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef records_module = {
    PyModuleDef_HEAD_INIT, "rmq_protocol._records",
    "Optional C versions of rmq_protocol.codec's record, batch and id codecs.", -1,
    records_methods,
};

PyMODINIT_FUNC
PyInit__records(void)
{
    rmq_crc32_setup();
    if (int_magic_v1 == NULL) {
        int_magic_v1 = PyLong_FromUnsignedLong(MAGIC_V1);
        int_magic_v2 = PyLong_FromUnsignedLong(MAGIC_V2);
        int_zero = PyLong_FromLong(0);
        int_mask = PyLong_FromLong(0xFFFF);
        if (int_magic_v1 == NULL || int_magic_v2 == NULL || int_zero == NULL ||
            int_mask == NULL) {
            return NULL;
        }
    }
    PyObject *module = PyModule_Create(&records_module);
    if (module == NULL) return NULL;
    if (PyType_Ready(&LazyPropertiesType) < 0 ||
        PyModule_AddType(module, &LazyPropertiesType) < 0 ||
        PyModule_AddIntConstant(module, "ABI", RECORDS_ABI) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
