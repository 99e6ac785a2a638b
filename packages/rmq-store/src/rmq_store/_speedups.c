/*
 * rmq_store._speedups: optional C versions of the store's per-message dispatch loops.
 *
 * Same rules as rmq_protocol._speedups (decision D19): each function mirrors a Python
 * loop of this package, takes only the common case, and stops at the first item it does
 * not take, returning its index; the Python code handles that item (or raises its precise
 * error) and calls again for the rest. The Python loops stay the reference; the tests in
 * tests/test_speedups.py run both on the same inputs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>

#define SPEEDUPS_ABI 14

#define UNIT_SIZE 20
#define INDEX_HEADER_SIZE 40
#define INDEX_SLOT_SIZE 4
#define INDEX_ENTRY_SIZE 20
#define PREPARED_OR_ROLLBACK 0x4
#define MAGIC_V1 0xDAA320A7u
#define MAGIC_V2 0xDAA320ABu
#define BLANK_MAGIC 0xCBD43194u
#define MIN_RECORD 91
#define SHORT_RUN 8 /* messages an append keeps its per-message arrays on the stack for */

static PyObject *s_topic, *s_queue_id, *s_sys_flag, *s_properties, *s_files, *s_file_size,
    *s_map, *s_wrote_position, *s_pending_size, *s_file_from_offset, *s_max_physic_offset,
    *s_tags, *s_keys, *s_uniq_key, *s_append_state, *s_closed, *s_writes_refused, *s_segments,
    *s_index_pending, *s_clock_ms, *s_write_index, *s_raise_errors_kw, *s_host, *s_port,
    *s_pwrite;

static inline void put32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24); p[1] = (char)(v >> 16); p[2] = (char)(v >> 8); p[3] = (char)v;
}
static inline void put64(char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}
static inline int32_t get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (int32_t)(((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) |
                     u[3]);
}

static int
as_int64(PyObject *value, long long *out) /* 0, or -1 (no exception) when not an int64 */
{
    if (!PyLong_Check(value)) return -1;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    *out = v;
    return 0;
}

/* Java String.hashCode of text[start:end] (code points; UTF-16 units are hashed);
 * -1 on a lone surrogate (the caller stops). */
static int
range_hash(PyObject *text, Py_ssize_t start, Py_ssize_t end, int32_t *out)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    uint32_t h = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) return -1;
        if (c > 0xFFFF) {
            c -= 0x10000;
            h = 31u * h + (0xD800 + (c >> 10));
            h = 31u * h + (0xDC00 + (c & 0x3FF));
        } else {
            h = 31u * h + c;
        }
    }
    *out = (int32_t)h;
    return 0;
}

/* Java String.hashCode of a tag; -1 on a lone surrogate (the caller stops). */
static int
tags_hash(PyObject *text, int32_t *out)
{
    return range_hash(text, 0, PyUnicode_GET_LENGTH(text), out);
}

/* ------------------------------------------------------------------ properties text */

/* Where the value of a property is in a properties text: text[start:end]; start -1 when
 * the text has no such property. */
typedef struct {
    Py_ssize_t start, end;
} Span;

enum { FOUND_TAGS, FOUND_KEYS, FOUND_UNIQ_KEY, FOUND_COUNT };

/* Which of TAGS, KEYS, UNIQ_KEY the name text[s:s+len] is (FOUND_COUNT: none). */
static inline int
property_name(int kind, const void *data, Py_ssize_t s, Py_ssize_t len)
{
    static const char *const names[FOUND_COUNT] = {"TAGS", "KEYS", "UNIQ_KEY"};
    for (int k = 0; k < FOUND_COUNT; k++) {
        if ((Py_ssize_t)strlen(names[k]) != len) continue;
        Py_ssize_t j = 0;
        while (j < len && PyUnicode_READ(kind, data, s + j) == (Py_UCS4)names[k][j]) j++;
        if (j == len) return k;
    }
    return FOUND_COUNT;
}

/* The values of TAGS, KEYS and UNIQ_KEY in an undecoded properties text, read as
 * rmq_protocol's decode_properties reads it (the reference): the text is split on 0x02;
 * a segment counts when its first 0x01 is neither its first nor its last character, and
 * is name 0x01 value (the value may hold 0x01); a repeated name keeps its last value. */
static void
properties_scan(PyObject *text, Span found[FOUND_COUNT])
{
    for (int k = 0; k < FOUND_COUNT; k++) found[k].start = found[k].end = -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t s = 0;
    while (s <= n) {
        Py_ssize_t e, p;
        if (kind == PyUnicode_1BYTE_KIND) { /* the usual text: memchr */
            const Py_UCS1 *d = data;
            const Py_UCS1 *at = memchr(d + s, 2, (size_t)(n - s));
            e = at ? at - d : n;
            at = memchr(d + s, 1, (size_t)(e - s));
            p = at ? at - d : e;
        } else {
            for (e = s; e < n && PyUnicode_READ(kind, data, e) != 2; e++) {
            }
            for (p = s; p < e && PyUnicode_READ(kind, data, p) != 1; p++) {
            }
        }
        if (p > s && p + 1 < e) { /* a name and a value */
            int which = property_name(kind, data, s, p - s);
            if (which < FOUND_COUNT) {
                found[which].start = p + 1;
                found[which].end = e;
            }
        }
        s = e + 1;
    }
}

/* ------------------------------------------------------------------ message fields */

/* MessageExt's slots, read directly (init() sets them): its properties attribute is a
 * Python descriptor that decodes a properties text on first read, which costs a Python
 * call per read; the slot holds the dict once decoded. Other types go through getattr. */
static PyTypeObject *message_type = NULL;
static Py_ssize_t topic_at, queue_id_at, sys_flag_at, properties_at, body_at, store_host_at;

static int
member_offset(PyObject *descr, const char *name, Py_ssize_t *out)
{
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "init: %s is not an object slot", name);
        return -1;
    }
    *out = ((PyMemberDescrObject *)descr)->d_member->offset;
    return 0;
}

/* init(message_type, properties_slot): the type whose slots are read directly. */
static PyObject *
speedups_init(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "init(message_type, properties_slot)");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)args[0];
    PyObject *dict = type->tp_dict;
    if (member_offset(PyDict_GetItemString(dict, "topic"), "topic", &topic_at) < 0 ||
        member_offset(PyDict_GetItemString(dict, "queue_id"), "queue_id", &queue_id_at) < 0 ||
        member_offset(PyDict_GetItemString(dict, "sys_flag"), "sys_flag", &sys_flag_at) < 0 ||
        member_offset(PyDict_GetItemString(dict, "body"), "body", &body_at) < 0 ||
        member_offset(PyDict_GetItemString(dict, "store_host"), "store_host", &store_host_at) < 0 ||
        member_offset(args[1], "properties", &properties_at) < 0) {
        return NULL;
    }
    Py_INCREF(type);
    Py_XSETREF(message_type, type);
    Py_RETURN_NONE;
}

/* The attribute name of message (a new reference; NULL with an exception). */
static PyObject *
field(PyObject *message, Py_ssize_t offset, PyObject *name)
{
    if (message_type != NULL && Py_IS_TYPE(message, message_type)) {
        PyObject *value = *(PyObject **)((char *)message + offset);
        if (value != NULL && !(offset == properties_at && PyUnicode_Check(value))) {
            return Py_NewRef(value);
        }
    }
    return PyObject_GetAttr(message, name);
}

/* MappedFile's slots, read and written directly once init_append registered the type
 * (getattr/setattr through the member descriptors cost ~150 instructions each). */
static PyTypeObject *mapped_file_type = NULL;
static Py_ssize_t mf_map_at, mf_wrote_at, mf_size_at, mf_from_at, mf_pwrite_at, mf_pending_at,
    mf_pending_size_at;

/* An attribute `name` of obj, read from its slot at `offset` when obj is exactly `type`
 * (a new reference; NULL with an exception). */
static PyObject *
slot_get(PyTypeObject *type, PyObject *obj, Py_ssize_t offset, PyObject *name)
{
    if (type != NULL && Py_IS_TYPE(obj, type)) {
        PyObject *value = *(PyObject **)((char *)obj + offset);
        if (value != NULL) return Py_NewRef(value);
    }
    return PyObject_GetAttr(obj, name);
}

/* Set an attribute as slot_get reads it (0, or -1 with an exception). */
static int
slot_set(PyTypeObject *type, PyObject *obj, Py_ssize_t offset, PyObject *name, PyObject *value)
{
    if (type != NULL && Py_IS_TYPE(obj, type)) {
        Py_XSETREF(*(PyObject **)((char *)obj + offset), Py_NewRef(value));
        return 0;
    }
    return PyObject_SetAttr(obj, name, value);
}

#define mf_get(file, offset, name) slot_get(mapped_file_type, file, offset, name)
#define mf_set(file, offset, name, value) slot_set(mapped_file_type, file, offset, name, value)

/* ------------------------------------------------------------------ dispatch */

/* The consume-queue file a run of units goes to, loaded from the queue's objects. */
typedef struct {
    PyObject *queue;     /* borrowed from the queues dict */
    PyObject *last;      /* the queue's last MappedFile (owned) */
    Py_buffer view;      /* its mapping, writable */
    Py_ssize_t position, file_size;
    long long file_from, max_physic;
    int loaded;
} QueueRun;

/* ConsumeQueue's slots, read and written directly once init_append registered the type. */
static PyTypeObject *queue_type = NULL;
static Py_ssize_t cq_files_at, cq_file_size_at, cq_max_physic_at;
#define cq_get(queue, offset, name) slot_get(queue_type, queue, offset, name)
#define cq_set(queue, offset, name, value) slot_set(queue_type, queue, offset, name, value)

static int
run_load(QueueRun *run, PyObject *queue)
{
    memset(run, 0, sizeof *run);
    PyObject *files = cq_get(queue, cq_files_at, s_files);
    if (files == NULL) return -1;
    if (!PyList_Check(files) || PyList_GET_SIZE(files) == 0) {
        Py_DECREF(files);
        return 1; /* no file yet: Python creates it */
    }
    PyObject *last = PyList_GET_ITEM(files, PyList_GET_SIZE(files) - 1);
    Py_INCREF(last);
    Py_DECREF(files);
    PyObject *buffer = NULL, *position = NULL, *from = NULL, *size = NULL;
    buffer = mf_get(last, mf_map_at, s_map); /* the mapping; None once closed */
    if (buffer == Py_None) {
        Py_DECREF(buffer);
        Py_DECREF(last);
        return 1; /* closed: Python raises */
    }
    position = buffer ? mf_get(last, mf_wrote_at, s_wrote_position) : NULL;
    from = position ? mf_get(last, mf_from_at, s_file_from_offset) : NULL;
    size = from ? cq_get(queue, cq_file_size_at, s_file_size) : NULL;
    int status = -1;
    if (size != NULL) {
        run->position = PyLong_AsSsize_t(position);
        run->file_from = PyLong_AsLongLong(from);
        run->file_size = PyLong_AsSsize_t(size);
        if (!PyErr_Occurred() && PyObject_GetBuffer(buffer, &run->view, PyBUF_WRITABLE) == 0) {
            if (run->file_size > run->view.len) run->file_size = run->view.len;
            run->queue = queue;
            run->last = last;
            run->max_physic = -1;
            run->loaded = 1;
            last = NULL;
            status = 0;
        }
    }
    Py_XDECREF(last);
    Py_XDECREF(buffer);
    Py_XDECREF(position);
    Py_XDECREF(from);
    Py_XDECREF(size);
    return status;
}

/* Write the run's position and max physical offset back to the Python objects. */
static int
run_store(QueueRun *run)
{
    if (!run->loaded) return 0;
    int status = 0;
    PyObject *position = PyLong_FromSsize_t(run->position);
    if (position == NULL || mf_set(run->last, mf_wrote_at, s_wrote_position, position) < 0) {
        status = -1;
    }
    Py_XDECREF(position);
    if (status == 0 && run->max_physic >= 0) {
        PyObject *max_physic = PyLong_FromLongLong(run->max_physic);
        if (max_physic == NULL ||
            cq_set(run->queue, cq_max_physic_at, s_max_physic_offset, max_physic) < 0) {
            status = -1;
        }
        Py_XDECREF(max_physic);
    }
    PyBuffer_Release(&run->view);
    Py_CLEAR(run->last);
    run->loaded = 0;
    return status;
}

static int
append_tuple(PyObject *list, PyObject *tuple)
{
    if (tuple == NULL) return -1;
    int status = PyList_Append(list, tuple);
    Py_DECREF(tuple);
    return status;
}

/* dispatch(messages, phy_offsets, sizes, queue_offsets, store_timestamp, start, queues,
 *          arrivals, index_records, schedule_topic) -> next
 *
 * MessageStore._dispatch for messages[start:] just appended: the consume-queue unit of
 * each (when it is the next unit of its queue's last file), the arrival
 * (topic, queue_id, queue_offset, tags_code) and, when index_records is a list, the index
 * record (topic, KEYS, UNIQ_KEY, phy_offset, store_timestamp). Stops at (and returns the
 * index of) the first message that is a transaction half or rollback, goes to
 * schedule_topic, has a queue not in queues or a unit that is not the plain next one, or
 * a TAGS the Python hash must judge. */
static PyObject *
speedups_dispatch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError,
                        "dispatch(messages, phy_offsets, sizes, queue_offsets, store_timestamp, "
                        "start, queues, arrivals, index_records, schedule_topic)");
        return NULL;
    }
    PyObject *messages = args[0], *phys = args[1], *sizes = args[2], *qoffs = args[3];
    PyObject *queues = args[6], *arrivals = args[7], *index_records = args[8];
    PyObject *schedule_topic = args[9];
    PyObject *store_ts = args[4];
    Py_ssize_t start = PyLong_AsSsize_t(args[5]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    if (!PyList_Check(messages) || !PyList_Check(phys) || !PyList_Check(sizes) ||
        !PyList_Check(qoffs) || !PyDict_Check(queues) || !PyList_Check(arrivals) ||
        (index_records != Py_None && !PyList_Check(index_records)) ||
        !PyUnicode_Check(schedule_topic)) {
        PyErr_SetString(PyExc_TypeError, "dispatch: wrong argument types");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(messages);
    if (PyList_GET_SIZE(phys) != count || PyList_GET_SIZE(sizes) != count ||
        PyList_GET_SIZE(qoffs) != count || start < 0) {
        PyErr_SetString(PyExc_ValueError, "dispatch: lists of different lengths");
        return NULL;
    }
    QueueRun run;
    memset(&run, 0, sizeof run);
    PyObject *run_topic = NULL, *run_qid = NULL; /* borrowed: the run's key objects */
    Py_ssize_t i = start;
    for (; i < count; i++) {
        PyObject *message = PyList_GET_ITEM(messages, i);
        PyObject *topic = NULL, *qid = NULL, *flag = NULL, *props = NULL;
        int stop = 1;
        long long sys_flag, queue_offset, phy, size;
        topic = field(message, topic_at, s_topic);
        if (topic == NULL) goto error;
        qid = field(message, queue_id_at, s_queue_id);
        if (qid == NULL) goto error_item;
        flag = field(message, sys_flag_at, s_sys_flag);
        if (flag == NULL) goto error_item;
        if (!PyUnicode_Check(topic) || as_int64(flag, &sys_flag) < 0 ||
            (sys_flag & PREPARED_OR_ROLLBACK) ||
            as_int64(PyList_GET_ITEM(qoffs, i), &queue_offset) < 0 ||
            as_int64(PyList_GET_ITEM(phys, i), &phy) < 0 ||
            as_int64(PyList_GET_ITEM(sizes, i), &size) < 0 || queue_offset < 0 ||
            queue_offset > INT64_MAX / UNIT_SIZE) {
            goto stop_item;
        }
        int is_schedule = PyUnicode_Compare(topic, schedule_topic);
        if (is_schedule == -1 && PyErr_Occurred()) goto error_item;
        if (is_schedule == 0) goto stop_item;
        if (!(run.loaded && topic == run_topic && qid == run_qid)) {
            if (run_store(&run) < 0) goto error_item;
            PyObject *key = PyTuple_Pack(2, topic, qid);
            if (key == NULL) goto error_item;
            PyObject *queue = PyDict_GetItemWithError(queues, key); /* borrowed */
            Py_DECREF(key);
            if (queue == NULL) {
                if (PyErr_Occurred()) goto error_item;
                goto stop_item;
            }
            int loaded = run_load(&run, queue);
            if (loaded < 0) goto error_item;
            if (loaded > 0) goto stop_item;
            run_topic = topic;
            run_qid = qid;
        }
        long long wanted = queue_offset * UNIT_SIZE;
        if (run.position + UNIT_SIZE > run.file_size || run.file_from + run.position != wanted) {
            goto stop_item;
        }
        props = field(message, properties_at, s_properties);
        if (props == NULL) goto error_item;
        if (!PyDict_Check(props)) goto stop_item;
        int32_t code = 0;
        PyObject *tags = PyDict_GetItemWithError(props, s_tags); /* borrowed */
        if (tags == NULL && PyErr_Occurred()) goto error_item;
        if (tags != NULL) {
            if (!PyUnicode_Check(tags) || tags_hash(tags, &code) < 0) goto stop_item;
        }
        PyObject *keys = NULL, *uniq = NULL;
        if (index_records != Py_None) {
            keys = PyDict_GetItemWithError(props, s_keys);
            if (keys == NULL && PyErr_Occurred()) goto error_item;
            uniq = PyDict_GetItemWithError(props, s_uniq_key);
            if (uniq == NULL && PyErr_Occurred()) goto error_item;
        }
        /* Everything is known: write. */
        char *at = (char *)run.view.buf + run.position;
        put64(at, (uint64_t)phy);
        put32(at + 8, (uint32_t)size);
        put64(at + 12, (uint64_t)(int64_t)code);
        run.position += UNIT_SIZE;
        run.max_physic = phy + size;
        PyObject *code_obj = PyLong_FromLong(code);
        if (code_obj == NULL) goto error_item;
        if (append_tuple(arrivals, PyTuple_Pack(4, topic, qid, PyList_GET_ITEM(qoffs, i),
                                                code_obj)) < 0) {
            Py_DECREF(code_obj);
            goto error_item;
        }
        Py_DECREF(code_obj);
        if (index_records != Py_None &&
            append_tuple(index_records,
                         PyTuple_Pack(5, topic, keys ? keys : Py_None, uniq ? uniq : Py_None,
                                      PyList_GET_ITEM(phys, i), store_ts)) < 0) {
            goto error_item;
        }
        stop = 0;
    stop_item:
        Py_XDECREF(topic);
        Py_XDECREF(qid);
        Py_XDECREF(flag);
        Py_XDECREF(props);
        if (stop) break;
        continue;
    error_item:
        Py_XDECREF(topic);
        Py_XDECREF(qid);
        Py_XDECREF(flag);
        Py_XDECREF(props);
        goto error;
    }
    if (run_store(&run) < 0) return NULL;
    return PyLong_FromSsize_t(i);
error:
    {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        run_store(&run); /* what was written stays consistent */
        PyErr_Restore(type, value, traceback);
    }
    return NULL;
}

/* ------------------------------------------------------------------ append */

/* What init_append registers: MessageStore.append_messages' types, its default clock and
 * the record encoder; and PutResult's slots. */
static PyTypeObject *store_type = NULL, *put_result_type = NULL;
static PyObject *default_clock = NULL, *encode_fn = NULL, *s_schedule_topic = NULL;
static Py_ssize_t index_batch = 256;
#define RESULT_FIELDS 6
static Py_ssize_t result_at[RESULT_FIELDS];
static const char *const result_fields[RESULT_FIELDS] = {
    "phy_offset", "wrote_bytes", "queue_offset", "store_timestamp", "msg_ids", "end_offset"};
/* The store's _Progress: what every append moves on, set through its slots. */
static PyTypeObject *progress_type = NULL;
enum { PG_DISPATCH_TIMESTAMP, PG_DISPATCHED_TO, PG_LAST_APPEND, PG_PUT_BYTES, PG_PUT_MESSAGES };
static Py_ssize_t progress_at[5];
static const char *const progress_fields[5] = {"dispatch_timestamp", "dispatched_to",
                                               "last_append", "put_bytes", "put_messages"};

static inline PyObject **
progress_slot(PyObject *progress, int field)
{
    return (PyObject **)((char *)progress + progress_at[field]);
}

/* Set a slot of the store's _Progress to `value`, a new reference (0, or -1 when `value`
 * is NULL: an exception is set). */
static int
progress_set(PyObject *progress, int field, PyObject *value)
{
    if (value == NULL) return -1;
    Py_XSETREF(*progress_slot(progress, field), value);
    return 0;
}
/* The msgId prefix of the last store host seen (the broker passes one HostPort object):
 * a pure function of the host, so it is shared by every store. */
static PyObject *last_host = NULL, *last_prefix = NULL;

/* init_append(store_type, put_result_type, wall_clock, encode_message, schedule_topic,
 *             index_batch, mapped_file_type, progress_type, consume_queue_type) */
static PyObject *
speedups_init_append(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 || !PyType_Check(args[0]) || !PyType_Check(args[1]) ||
        !PyCallable_Check(args[2]) || !PyCallable_Check(args[3]) ||
        !PyUnicode_CheckExact(args[4]) || !PyLong_Check(args[5]) || !PyType_Check(args[6]) ||
        !PyType_Check(args[7]) || !PyType_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError, "init_append(store_type, put_result_type, wall_clock, "
                                         "encode_message, schedule_topic, index_batch, "
                                         "mapped_file_type, progress_type, consume_queue_type)");
        return NULL;
    }
    PyObject *queues = ((PyTypeObject *)args[8])->tp_dict;
    Py_ssize_t cq[3];
    if (member_offset(PyDict_GetItemString(queues, "_files"), "_files", &cq[0]) < 0 ||
        member_offset(PyDict_GetItemString(queues, "file_size"), "file_size", &cq[1]) < 0 ||
        member_offset(PyDict_GetItemString(queues, "max_physic_offset"), "max_physic_offset",
                      &cq[2]) < 0) {
        return NULL;
    }
    PyObject *files = ((PyTypeObject *)args[6])->tp_dict;
    Py_ssize_t mf[8] = {0}; /* mf[4] is free */
    if (member_offset(PyDict_GetItemString(files, "_map"), "_map", &mf[0]) < 0 ||
        member_offset(PyDict_GetItemString(files, "pending"), "pending", &mf[6]) < 0 ||
        member_offset(PyDict_GetItemString(files, "pending_size"), "pending_size", &mf[7]) < 0 ||
        member_offset(PyDict_GetItemString(files, "pwrite"), "pwrite", &mf[5]) < 0 ||
        member_offset(PyDict_GetItemString(files, "wrote_position"), "wrote_position", &mf[1]) < 0 ||
        member_offset(PyDict_GetItemString(files, "file_size"), "file_size", &mf[2]) < 0 ||
        member_offset(PyDict_GetItemString(files, "file_from_offset"), "file_from_offset", &mf[3]) < 0) {
        return NULL;
    }
    Py_ssize_t batch = PyLong_AsSsize_t(args[5]);
    if (batch == -1 && PyErr_Occurred()) return NULL;
    PyTypeObject *result = (PyTypeObject *)args[1];
    Py_ssize_t at[RESULT_FIELDS];
    for (int k = 0; k < RESULT_FIELDS; k++) {
        if (member_offset(PyDict_GetItemString(result->tp_dict, result_fields[k]),
                          result_fields[k], &at[k]) < 0) {
            return NULL;
        }
    }
    Py_ssize_t pg[5];
    PyObject *progress = ((PyTypeObject *)args[7])->tp_dict;
    for (int k = 0; k < 5; k++) {
        if (member_offset(PyDict_GetItemString(progress, progress_fields[k]), progress_fields[k],
                          &pg[k]) < 0) {
            return NULL;
        }
    }
    memcpy(progress_at, pg, sizeof pg);
    Py_XSETREF(progress_type, (PyTypeObject *)Py_NewRef(args[7]));
    memcpy(result_at, at, sizeof at);
    mf_map_at = mf[0], mf_wrote_at = mf[1], mf_size_at = mf[2], mf_from_at = mf[3];
    mf_pwrite_at = mf[5], mf_pending_at = mf[6], mf_pending_size_at = mf[7];
    Py_XSETREF(mapped_file_type, (PyTypeObject *)Py_NewRef(args[6]));
    cq_files_at = cq[0], cq_file_size_at = cq[1], cq_max_physic_at = cq[2];
    Py_XSETREF(queue_type, (PyTypeObject *)Py_NewRef(args[8]));
    index_batch = batch;
    Py_XSETREF(s_schedule_topic, Py_NewRef(args[4]));
    Py_XSETREF(store_type, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(put_result_type, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(default_clock, Py_NewRef(args[2]));
    Py_XSETREF(encode_fn, Py_NewRef(args[3]));
    Py_RETURN_NONE;
}

/* An attribute of the store, from its __dict__ (borrowed; NULL, no exception, if absent). */
static inline PyObject *
store_get(PyObject *dict, PyObject *name)
{
    PyObject *value = PyDict_GetItemWithError(dict, name);
    if (value == NULL) PyErr_Clear();
    return value;
}

static int
release_lock(PyObject *release)
{
    PyObject *done = PyObject_CallNoArgs(release);
    if (done == NULL) return -1;
    Py_DECREF(done);
    return 0;
}

static int int_value(PyObject *value, long long *out);

/* as_int64 of a slot that may be unset (NULL): 0, or -1 (no exception) */
static inline int
as_int64_or_null(PyObject *value, long long *out)
{
    return value == NULL ? -1 : as_int64(value, out);
}

/* One record of an append at `at`: `data` (encode_message's bytes) with the fields only the
 * store knows; the 8-byte head last, so that a process killed during the copy leaves a
 * zero head (MappedFile.write_record's rule). */
static void
put_record(char *at, const char *data, Py_ssize_t size, long long queue_offset, long long phy,
           long long now)
{
    memcpy(at + 8, data + 8, (size_t)(size - 8));
    put64(at + 20, (uint64_t)queue_offset); /* QUEUEOFFSET */
    put64(at + 28, (uint64_t)phy);          /* PHYSICALOFFSET */
    Py_ssize_t ts_at = (data[39] & 0x10) ? 68 : 56; /* an IPv6 born host moves it */
    put64(at + ts_at, (uint64_t)now);
    memcpy(at, data, 8);
}

/* The offset msgId of host without its 16 offset digits, from MessageStore._msg_id_prefix's
 * cache (a new reference); NULL, no exception, when it is not cached yet. */
static PyObject *
msg_id_prefix(PyObject *prefixes, PyObject *host)
{
    if (host == last_host) return Py_NewRef(last_prefix);
    PyObject *name = PyObject_GetAttr(host, s_host);
    PyObject *port = name ? PyObject_GetAttr(host, s_port) : NULL;
    PyObject *key = port ? PyTuple_Pack(2, name, port) : NULL;
    Py_XDECREF(name);
    Py_XDECREF(port);
    PyObject *prefix = key ? PyDict_GetItemWithError(prefixes, key) : NULL;
    Py_XDECREF(key);
    if (prefix == NULL || !PyUnicode_Check(prefix) || !PyUnicode_IS_ASCII(prefix)) {
        PyErr_Clear();
        return NULL;
    }
    Py_XSETREF(last_host, Py_NewRef(host));
    Py_XSETREF(last_prefix, Py_NewRef(prefix));
    return Py_NewRef(prefix);
}

/* A MappedFile's int slot: 0; 1 when not an int64; -1 with an exception. */
static int
int_slot(PyObject *file, Py_ssize_t offset, PyObject *name, long long *out)
{
    return int_value(mf_get(file, offset, name), out);
}

static int
int_value(PyObject *value, long long *out) /* steals value */
{
    if (value == NULL) return -1;
    int bad = as_int64(value, out);
    Py_DECREF(value);
    return bad ? 1 : 0;
}

/* append(store, messages) -> PutResult | None
 *
 * MessageStore.append_messages for its common case, in one call: messages (a list or
 * tuple of MessageExt) all of one topic and queue whose queue exists, none a transaction
 * half or rollback nor of the schedule topic, with dict properties or an undecoded
 * properties text (read for TAGS, KEYS and UNIQ_KEY here, and stored as it is by
 * encode_message) whose TAGS holds no lone surrogate, bodies within
 * maxMessageSize, a store host whose msgId prefix the store has cached, the put lock
 * free, the store open and accepting writes, the records fitting in the segment being
 * written and the units in the queue's file. Encodes the records (encode_message), then
 * under the put lock does what the Python path does: queue offsets, records (head last),
 * queue units, index records, the store's counters, the index write every
 * _INDEX_BATCH records; calls the arrival listeners after the lock and returns the
 * PutResult. Returns None, having changed nothing (and called no clock, but for a
 * failed pwrite), for anything else: the Python path then takes the call, and raises
 * whatever error is due. */
static PyObject *
speedups_append(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "append(store, messages)");
        return NULL;
    }
    PyObject *store = args[0], *messages = args[1];
    if (store_type == NULL || message_type == NULL || !Py_IS_TYPE(store, store_type) ||
        !(PyList_CheckExact(messages) || PyTuple_CheckExact(messages))) {
        Py_RETURN_NONE;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(messages);
    if (count == 0) Py_RETURN_NONE;
    PyObject *dict = PyObject_GenericGetDict(store, NULL);
    if (dict == NULL) return NULL;

    PyObject *result = NULL, *key = NULL, *topic = NULL, *qid = NULL, *encoded = NULL;
    PyObject *prefix = NULL, *state = NULL, *pending = NULL, *last = NULL;
    PyObject *segment_map = NULL, *ids = NULL, *arrivals = NULL, *now_obj = NULL;
    PyObject *end_obj = NULL; /* PutResult.end_offset, also the progress' dispatched_to */
    /* each message's KEYS and UNIQ_KEY (owned; NULL when it has none), for the index */
    /* (on the stack for a short run: two allocations cost ~500 instructions a put) */
    PyObject *keys_stack[2 * SHORT_RUN] = {NULL};
    int32_t codes_stack[SHORT_RUN] = {0};
    int short_run = count <= SHORT_RUN;
    PyObject **keys = short_run ? keys_stack
                                : PyMem_Calloc((size_t)count * 2, sizeof(PyObject *));
    PyObject **uniqs = keys ? keys + count : NULL;
    int32_t *codes = short_run ? codes_stack : PyMem_Calloc((size_t)count, sizeof(int32_t));
    int locked = 0;
    QueueRun run;
    memset(&run, 0, sizeof run);
    Py_buffer view;
    view.obj = NULL;
    if (keys == NULL || codes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject **items = PySequence_Fast_ITEMS(messages);
    /* MessageStore._append_state: what never changes while the store is open */
    state = Py_XNewRef(store_get(dict, s_append_state));
    if (state == NULL || !PyTuple_CheckExact(state) || PyTuple_GET_SIZE(state) != 11 ||
        !Py_IS_TYPE(PyTuple_GET_ITEM(state, 10), progress_type)) {
        goto not_taken;
    }
    PyObject *progress = PyTuple_GET_ITEM(state, 10);
    PyObject *acquire = PyTuple_GET_ITEM(state, 0), *release = PyTuple_GET_ITEM(state, 1);
    PyObject *offsets = PyTuple_GET_ITEM(state, 2), *queues = PyTuple_GET_ITEM(state, 3);
    PyObject *prefixes = PyTuple_GET_ITEM(state, 4), *commit_log = PyTuple_GET_ITEM(state, 6);
    PyObject *index_enabled = PyTuple_GET_ITEM(state, 9);
    PyObject *listeners = PyTuple_GET_ITEM(state, 5);
    int with_index = index_enabled == Py_True;
    long long max_body, max_record;
    if (!PyDict_CheckExact(offsets) || !PyDict_CheckExact(queues) ||
        !PyDict_CheckExact(prefixes) || !PyList_CheckExact(listeners) ||
        as_int64(PyTuple_GET_ITEM(state, 7), &max_body) < 0 ||
        as_int64(PyTuple_GET_ITEM(state, 8), &max_record) < 0) {
        goto not_taken;
    }

    /* 1. Every message: one queue, a plain message, its tags code; then the records. */
    topic = field(items[0], topic_at, s_topic);
    qid = topic ? field(items[0], queue_id_at, s_queue_id) : NULL;
    if (qid == NULL || !PyUnicode_CheckExact(topic) || !PyLong_CheckExact(qid) ||
        PyUnicode_Compare(topic, s_schedule_topic) == 0) {
        goto not_taken;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *message = items[i];
        if (!Py_IS_TYPE(message, message_type)) goto not_taken;
        if (i > 0) {
            PyObject *other = *(PyObject **)((char *)message + topic_at);
            if (other != topic && (other == NULL || !PyUnicode_CheckExact(other) ||
                                   PyUnicode_Compare(other, topic) != 0)) {
                goto not_taken;
            }
            other = *(PyObject **)((char *)message + queue_id_at);
            if (other != qid && (other == NULL || !PyLong_CheckExact(other) ||
                                 PyObject_RichCompareBool(other, qid, Py_EQ) != 1)) {
                goto not_taken;
            }
        }
        PyObject *flag = *(PyObject **)((char *)message + sys_flag_at);
        long long sys_flag;
        if (flag == NULL || as_int64(flag, &sys_flag) < 0 || (sys_flag & PREPARED_OR_ROLLBACK)) {
            goto not_taken;
        }
        PyObject *body = *(PyObject **)((char *)message + body_at);
        if (body == NULL || !PyBytes_CheckExact(body) || PyBytes_GET_SIZE(body) > max_body) {
            goto not_taken;
        }
        /* the slot itself: the properties descriptor would decode a text */
        PyObject *raw = *(PyObject **)((char *)message + properties_at);
        if (raw == NULL) goto not_taken;
        if (PyUnicode_CheckExact(raw)) {
            Span found[FOUND_COUNT];
            properties_scan(raw, found);
            Span tags = found[FOUND_TAGS], k = found[FOUND_KEYS], u = found[FOUND_UNIQ_KEY];
            if (tags.start >= 0 && range_hash(raw, tags.start, tags.end, &codes[i]) < 0) {
                goto not_taken;
            }
            if (with_index && ((k.start >= 0 &&
                                (keys[i] = PyUnicode_Substring(raw, k.start, k.end)) == NULL) ||
                               (u.start >= 0 &&
                                (uniqs[i] = PyUnicode_Substring(raw, u.start, u.end)) == NULL))) {
                goto not_taken;
            }
        } else if (PyDict_CheckExact(raw)) {
            PyObject *tags = PyDict_GetItemWithError(raw, s_tags); /* borrowed */
            if (tags == NULL && PyErr_Occurred()) goto not_taken;
            if (tags != NULL && (!PyUnicode_Check(tags) || tags_hash(tags, &codes[i]) < 0)) {
                goto not_taken;
            }
            if (with_index) {
                keys[i] = Py_XNewRef(PyDict_GetItemWithError(raw, s_keys));
                if (keys[i] == NULL && PyErr_Occurred()) goto not_taken;
                uniqs[i] = Py_XNewRef(PyDict_GetItemWithError(raw, s_uniq_key));
                if (uniqs[i] == NULL && PyErr_Occurred()) goto not_taken;
            }
        } else {
            goto not_taken;
        }
    }
    PyObject *host = *(PyObject **)((char *)items[0] + store_host_at);
    if (host == NULL || (prefix = msg_id_prefix(prefixes, host)) == NULL) goto not_taken;
    encoded = PyList_New(count);
    if (encoded == NULL) goto not_taken;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *data = PyObject_CallOneArg(encode_fn, items[i]);
        if (data == NULL) goto not_taken; /* the Python path raises it again */
        PyList_SET_ITEM(encoded, i, data);
        if (!PyBytes_CheckExact(data) || PyBytes_GET_SIZE(data) < MIN_RECORD) goto not_taken;
        total += PyBytes_GET_SIZE(data);
    }

    /* 2. Under the put lock: the store's state, checked before anything is written. */
    PyObject *got = PyObject_CallOneArg(acquire, Py_False);
    if (got == NULL) goto not_taken;
    locked = got == Py_True;
    Py_DECREF(got);
    if (!locked) goto not_taken; /* held by another thread: the Python path waits */
    PyObject *closed = store_get(dict, s_closed), *refused = store_get(dict, s_writes_refused);
    if (closed != Py_False || refused != Py_False) goto not_taken;
    long long put_messages, put_bytes;
    if (as_int64_or_null(*progress_slot(progress, PG_PUT_MESSAGES), &put_messages) < 0 ||
        as_int64_or_null(*progress_slot(progress, PG_PUT_BYTES), &put_bytes) < 0) {
        goto not_taken;
    }
    PyObject *segments = PyObject_GetAttr(commit_log, s_segments);
    if (segments == NULL) goto not_taken;
    if (PyList_CheckExact(segments) && PyList_GET_SIZE(segments) > 0) {
        last = Py_NewRef(PyList_GET_ITEM(segments, PyList_GET_SIZE(segments) - 1));
    }
    Py_DECREF(segments);
    long long position, file_size, base;
    if (last == NULL || !Py_IS_TYPE(last, mapped_file_type) ||
        int_slot(last, mf_wrote_at, s_wrote_position, &position) != 0 ||
        int_slot(last, mf_size_at, s_file_size, &file_size) != 0 ||
        int_slot(last, mf_from_at, s_file_from_offset, &base) != 0) {
        goto not_taken;
    }
    if (position < 0 || total > file_size - position - 8) goto not_taken;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (PyBytes_GET_SIZE(PyList_GET_ITEM(encoded, i)) > max_record) goto not_taken;
    }
    key = PyTuple_Pack(2, topic, qid);
    if (key == NULL) goto not_taken;
    PyObject *next_obj = PyDict_GetItemWithError(offsets, key); /* borrowed */
    long long next;
    if (next_obj == NULL || as_int64(next_obj, &next) < 0 || next < 0 ||
        next > INT64_MAX / UNIT_SIZE - count) {
        goto not_taken;
    }
    PyObject *queue = PyDict_GetItemWithError(queues, key); /* borrowed */
    if (queue == NULL || run_load(&run, queue) != 0) goto not_taken;
    if (run.file_from + run.position != next * UNIT_SIZE ||
        run.position + count * UNIT_SIZE > run.file_size) {
        goto not_taken;
    }
    segment_map = mf_get(last, mf_map_at, s_map);
    if (segment_map == NULL || segment_map == Py_None) goto not_taken;
    /* A pwrite segment (MappedFile.pwrite) takes the records into its write buffer,
     * committed to the file by MappedFile.commit (before a flush or a read of them); a
     * buffer not allocated yet or too full is the Python path's (which commits it). */
    PyObject *pwrite_flag = *(PyObject **)((char *)last + mf_pwrite_at);
    char *pending_buf = NULL;
    long long pending_size = 0;
    if (pwrite_flag == Py_True) {
        PyObject *pending_obj = *(PyObject **)((char *)last + mf_pending_at);
        if (pending_obj == NULL || !PyByteArray_CheckExact(pending_obj) ||
            int_slot(last, mf_pending_size_at, s_pending_size, &pending_size) != 0 ||
            pending_size < 0 || pending_size > position ||
            pending_size + total > PyByteArray_GET_SIZE(pending_obj)) {
            goto not_taken;
        }
        pending_buf = PyByteArray_AS_STRING(pending_obj) + pending_size;
    } else if (pwrite_flag != Py_False) {
        goto not_taken;
    } else if (PyObject_GetBuffer(segment_map, &view, PyBUF_WRITABLE) < 0 ||
               file_size > view.len) {
        goto not_taken;
    }
    if (index_enabled == Py_True) {
        pending = Py_XNewRef(store_get(dict, s_index_pending));
        if (pending == NULL || !PyList_CheckExact(pending)) goto not_taken;
    } else if (index_enabled != Py_False) {
        goto not_taken;
    }

    /* 3. The clock: the one call after which the append happens. */
    PyObject *clock = store_get(dict, s_clock_ms);
    if (clock == NULL) goto not_taken;
    long long now;
    if (clock == default_clock) {
        struct timespec ts;
        if (clock_gettime(CLOCK_REALTIME, &ts) != 0) goto not_taken;
        now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        now_obj = PyLong_FromLongLong(now);
        if (now_obj == NULL) goto error;
    } else {
        now_obj = PyObject_CallNoArgs(clock);
        if (now_obj == NULL) goto error; /* the Python path would raise it too */
        if (as_int64(now_obj, &now) < 0) goto not_taken; /* the Python path asks again */
    }

    /* 4. Build every object, then write: a pwrite segment first (a failed pwrite declines
     * the call), then the mapping (which cannot fail). */
    Py_ssize_t pending_before = pending != NULL ? PyList_GET_SIZE(pending) : 0;
    int with_arrivals = PyList_GET_SIZE(listeners) > 0;
    ids = PyTuple_New(count);
    arrivals = with_arrivals ? PyList_New(0) : NULL;
    PyObject *new_next = PyLong_FromLongLong(next + count);
    if (ids == NULL || new_next == NULL || (with_arrivals && arrivals == NULL)) {
        Py_XDECREF(new_next);
        goto undo;
    }
    Py_ssize_t prefix_len = PyUnicode_GET_LENGTH(prefix);
    const char *prefix_text = (const char *)PyUnicode_DATA(prefix);
    static const char hex[] = "0123456789ABCDEF";
    long long first_phy = base + position, phy = first_phy;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *id = PyUnicode_New(prefix_len + 16, 127);
        if (id == NULL) {
            Py_DECREF(new_next);
            goto undo;
        }
        char *text = (char *)PyUnicode_DATA(id);
        memcpy(text, prefix_text, (size_t)prefix_len);
        uint64_t value = (uint64_t)phy;
        for (int d = 15; d >= 0; d--, value >>= 4) text[prefix_len + d] = hex[value & 0xF];
        PyTuple_SET_ITEM(ids, i, id);
        int failed = 0;
        if (with_arrivals) {
            PyObject *qo = PyLong_FromLongLong(next + i);
            PyObject *code = PyLong_FromLong(codes[i]);
            failed = qo == NULL || code == NULL ||
                     append_tuple(arrivals, PyTuple_Pack(4, topic, qid, qo, code)) < 0;
            Py_XDECREF(qo);
            Py_XDECREF(code);
        }
        if (!failed && pending != NULL) {
            PyObject *phy_obj = PyLong_FromLongLong(phy);
            failed = phy_obj == NULL ||
                     append_tuple(pending, PyTuple_Pack(5, topic, keys[i] ? keys[i] : Py_None,
                                                        uniqs[i] ? uniqs[i] : Py_None, phy_obj,
                                                        now_obj)) < 0;
            Py_XDECREF(phy_obj);
        }
        if (failed) {
            Py_DECREF(new_next);
            goto undo;
        }
        phy += PyBytes_GET_SIZE(PyList_GET_ITEM(encoded, i));
    }
    long long end = phy;
    int set_failed = PyDict_SetItem(offsets, key, new_next);
    Py_DECREF(new_next);
    if (set_failed < 0) goto undo;
    /* the mapping at the write position, or the write buffer at its end */
    char *buf = pending_buf != NULL ? pending_buf - position : view.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *data_obj = PyList_GET_ITEM(encoded, i);
        const char *data = PyBytes_AS_STRING(data_obj);
        Py_ssize_t size = PyBytes_GET_SIZE(data_obj);
        long long record_phy = base + position;
        put_record(buf + position, data, size, next + i, record_phy, now);
        char *unit = (char *)run.view.buf + run.position;
        put64(unit, (uint64_t)record_phy);
        put32(unit + 8, (uint32_t)size);
        put64(unit + 12, (uint64_t)(int64_t)codes[i]);
        run.position += UNIT_SIZE;
        run.max_physic = record_phy + size;
        position += size;
    }
    /* 5. The written state, as the Python path leaves it. */
    PyBuffer_Release(&view);
    view.obj = NULL;
    if (run_store(&run) < 0) goto error;
    PyObject *position_obj = PyLong_FromLongLong(position);
    if (position_obj == NULL) goto error;
    set_failed = mf_set(last, mf_wrote_at, s_wrote_position, position_obj);
    Py_DECREF(position_obj);
    if (set_failed < 0) goto error;
    if (pending_buf != NULL) {
        PyObject *size_obj = PyLong_FromLongLong(pending_size + (end - first_phy));
        set_failed = size_obj == NULL ||
                     mf_set(last, mf_pending_size_at, s_pending_size, size_obj) < 0;
        Py_XDECREF(size_obj);
        if (set_failed) goto error;
    }
    end_obj = PyLong_FromLongLong(end);
    set_failed = end_obj == NULL ||
                 progress_set(progress, PG_LAST_APPEND, PyTuple_Pack(2, end_obj, now_obj)) < 0 ||
                 progress_set(progress, PG_DISPATCH_TIMESTAMP, Py_NewRef(now_obj)) < 0 ||
                 progress_set(progress, PG_DISPATCHED_TO, Py_NewRef(end_obj)) < 0 ||
                 progress_set(progress, PG_PUT_MESSAGES,
                              PyLong_FromLongLong(put_messages + count)) < 0 ||
                 progress_set(progress, PG_PUT_BYTES,
                              PyLong_FromLongLong(put_bytes + (end - first_phy))) < 0;
    if (set_failed) goto error;
    if (pending != NULL && PyList_GET_SIZE(pending) >= index_batch) {
        PyObject *call_args[2] = {store, Py_False};
        PyObject *written = PyObject_VectorcallMethod(
            s_write_index, call_args, 1, s_raise_errors_kw);
        if (written == NULL) goto error;
        Py_DECREF(written);
    }
    locked = 0;
    if (release_lock(release) < 0) goto done;
    /* 6. After the lock: the arrival listeners, then the result. */
    for (Py_ssize_t k = 0; with_arrivals && k < PyList_GET_SIZE(listeners); k++) {
        PyObject *listener = PyList_GET_ITEM(listeners, k);
        Py_INCREF(listener);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(arrivals); i++) {
            PyObject *arrival = PyList_GET_ITEM(arrivals, i);
            PyObject *called = PyObject_Vectorcall(listener, &PyTuple_GET_ITEM(arrival, 0), 4,
                                                   NULL);
            if (called == NULL) {
                Py_DECREF(listener);
                goto done;
            }
            Py_DECREF(called);
        }
        Py_DECREF(listener);
    }
    PyObject *values[RESULT_FIELDS] = {
        PyLong_FromLongLong(first_phy), PyLong_FromLongLong(end - first_phy),
        PyLong_FromLongLong(next),      Py_NewRef(now_obj),
        Py_NewRef(ids),                 Py_NewRef(end_obj)};
    PyObject *put = NULL;
    if (values[0] != NULL && values[1] != NULL && values[2] != NULL) {
        put = put_result_type->tp_alloc(put_result_type, 0);
    }
    if (put == NULL) {
        for (int k = 0; k < RESULT_FIELDS; k++) Py_XDECREF(values[k]);
        goto done;
    }
    for (int k = 0; k < RESULT_FIELDS; k++) *(PyObject **)((char *)put + result_at[k]) = values[k];
    result = put;
    goto done;
undo: /* nothing was written: take back what was handed over */
    {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (pending != NULL) PyList_SetSlice(pending, pending_before, PY_SSIZE_T_MAX, NULL);
        PyErr_Restore(type, value, traceback);
    }
    goto error;
not_taken:
    PyErr_Clear();
    result = Py_NewRef(Py_None);
    goto done;
error:
    result = NULL;
done:
    if (view.obj != NULL) PyBuffer_Release(&view);
    if (run.loaded) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (run_store(&run) < 0) {
            Py_CLEAR(result);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
        } else {
            PyErr_Restore(type, value, traceback);
        }
    }
    if (locked) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (release_lock(PyTuple_GET_ITEM(state, 1)) < 0) {
            Py_CLEAR(result);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
        } else {
            PyErr_Restore(type, value, traceback);
        }
    }
    for (Py_ssize_t i = 0; keys != NULL && i < 2 * count; i++) Py_XDECREF(keys[i]);
    if (!short_run) {
        PyMem_Free(keys);
        PyMem_Free(codes);
    }
    Py_XDECREF(key);
    Py_XDECREF(topic);
    Py_XDECREF(qid);
    Py_XDECREF(encoded);
    Py_XDECREF(prefix);
    Py_XDECREF(pending);
    Py_XDECREF(state);
    Py_XDECREF(last);
    Py_XDECREF(segment_map);
    Py_XDECREF(ids);
    Py_XDECREF(arrivals);
    Py_XDECREF(now_obj);
    Py_XDECREF(end_obj);
    Py_DECREF(dict);
    return result;
}

/* ------------------------------------------------------------------ index_put */

/* The header values of an index file (IndexFile's slots), while C adds entries. */
typedef struct {
    long long count, slot_count, begin_ts, begin_phy, end_ts, end_phy;
} IndexState;

static int
index_state_read(PyObject *state, IndexState *st)
{
    long long v[6];
    for (int k = 0; k < 6; k++) {
        v[k] = PyLong_AsLongLong(PyList_GET_ITEM(state, k));
        if (v[k] == -1 && PyErr_Occurred()) return -1;
    }
    st->count = v[0], st->slot_count = v[1], st->begin_ts = v[2], st->begin_phy = v[3];
    st->end_ts = v[4], st->end_phy = v[5];
    return 0;
}

static int
index_state_write(PyObject *state, const IndexState *st)
{
    long long values[6] = {st->count,  st->slot_count, st->begin_ts,
                           st->begin_phy, st->end_ts,  st->end_phy};
    for (int k = 0; k < 6; k++) {
        PyObject *v = PyLong_FromLongLong(values[k]);
        if (v == NULL) return -1;
        PyList_SetItem(state, k, v); /* steals v */
    }
    return 0;
}

/* IndexFile.put_records' step for one key of a record: the entry (key_hash, phy, time
 * difference, previous entry of the slot) at st->count, and the slot pointing at it.
 * first is the count at the record's first entry; time_diff carries over between the
 * entries of one record. The caller checked count < index_num and 0 <= key_hash. */
static inline void
index_add(char *buf, Py_ssize_t entries_at, long long slots, IndexState *st, long long key_hash,
          long long phy, long long ts, long long first, int32_t *time_diff)
{
    if (st->count == first || st->count <= 2) {
        if (st->begin_ts <= 0 || ts <= st->begin_ts) {
            *time_diff = 0;
        } else {
            uint64_t diff = ((uint64_t)ts - (uint64_t)st->begin_ts) / 1000;
            *time_diff = diff > INT32_MAX ? INT32_MAX : (int32_t)diff;
        }
    }
    char *slot_at = buf + INDEX_HEADER_SIZE + INDEX_SLOT_SIZE * (key_hash % slots);
    int32_t prev = get32(slot_at);
    if (prev <= 0 || prev > st->count) {
        prev = 0;
        st->slot_count++;
    }
    char *entry = buf + entries_at + INDEX_ENTRY_SIZE * st->count;
    put32(entry, (uint32_t)key_hash);
    put64(entry + 4, (uint64_t)phy);
    put32(entry + 12, (uint32_t)*time_diff);
    put32(entry + 16, (uint32_t)prev);
    put32(slot_at, (uint32_t)st->count);
    if (st->count <= 1) {
        st->begin_phy = phy;
        st->begin_ts = ts;
    }
    st->count++;
    st->end_phy = phy;
    st->end_ts = ts;
}

/* The arguments index_put and index_build share, (mapping, entries_at, hash_slot_num,
 * index_num, state, records, start), checked, with the mapping's writable buffer (the
 * caller releases call->view). -1 with an exception naming `name` when they do not fit. */
typedef struct {
    Py_ssize_t entries_at, start;
    long long slots, index_num;
    PyObject *state, *records; /* borrowed */
    IndexState st;
    Py_buffer view;
} IndexCall;

static int
index_call_open(IndexCall *call, const char *name, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError,
                     "%s(mapping, entries_at, hash_slot_num, index_num, state, records, start)",
                     name);
        return -1;
    }
    call->entries_at = PyLong_AsSsize_t(args[1]);
    call->slots = PyLong_AsLongLong(args[2]);
    call->index_num = PyLong_AsLongLong(args[3]);
    call->start = PyLong_AsSsize_t(args[6]);
    if (PyErr_Occurred()) return -1;
    call->state = args[4];
    call->records = args[5];
    if (!PyList_Check(call->state) || PyList_GET_SIZE(call->state) != 6 ||
        !PyList_Check(call->records)) {
        PyErr_Format(PyExc_TypeError, "%s: state must be a list of 6, records a list", name);
        return -1;
    }
    if (index_state_read(call->state, &call->st) < 0) return -1;
    if (call->slots < 1 || call->index_num < 0 ||
        call->entries_at != INDEX_HEADER_SIZE + INDEX_SLOT_SIZE * call->slots ||
        call->st.count < 0 || call->start < 0) {
        PyErr_Format(PyExc_ValueError, "%s: inconsistent layout", name);
        return -1;
    }
    if (PyObject_GetBuffer(args[0], &call->view, PyBUF_WRITABLE) < 0) return -1;
    if (call->entries_at + INDEX_ENTRY_SIZE * call->index_num > call->view.len) {
        PyBuffer_Release(&call->view);
        PyErr_Format(PyExc_ValueError, "%s: mapping smaller than the layout", name);
        return -1;
    }
    return 0;
}

/* index_put(mapping, entries_at, hash_slot_num, index_num, state, records, start)
 *     -> (next, added, status)
 *
 * IndexFile.put_records for records[start:], each (key_hashes, phy_offset, store_ms).
 * state is the list [index_count, hash_slot_count, begin_timestamp, begin_phy_offset,
 * end_timestamp, end_phy_offset], updated in place. status 0: all written; 1: the file
 * is full (next and added say where); 2: records[next] is one the Python loop must
 * handle (a value out of range), nothing of it written. */
static PyObject *
speedups_index_put(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    IndexCall call;
    if (index_call_open(&call, "index_put", args, nargs) < 0) return NULL;
    Py_ssize_t entries_at = call.entries_at, start = call.start;
    long long slots = call.slots, index_num = call.index_num;
    PyObject *state = call.state, *records = call.records;
    IndexState st = call.st;
    char *buf = call.view.buf;
    Py_ssize_t n = PyList_GET_SIZE(records), i = start, added = 0;
    int status = 0;
    for (; i < n; i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) != 3) {
            status = 2;
            break;
        }
        PyObject *hashes = PyTuple_GET_ITEM(record, 0);
        long long phy, ts;
        if (!PyList_Check(hashes) || as_int64(PyTuple_GET_ITEM(record, 1), &phy) < 0 ||
            as_int64(PyTuple_GET_ITEM(record, 2), &ts) < 0) {
            status = 2;
            break;
        }
        Py_ssize_t nh = PyList_GET_SIZE(hashes);
        int bad = 0;
        for (Py_ssize_t j = 0; j < nh; j++) {
            long long h;
            if (as_int64(PyList_GET_ITEM(hashes, j), &h) < 0 || h < 0 || h > INT32_MAX) {
                bad = 1;
                break;
            }
        }
        if (bad) {
            status = 2;
            break;
        }
        long long first = st.count;
        int32_t time_diff = 0;
        for (added = 0; added < nh; added++) {
            if (st.count >= index_num) {
                status = 1;
                goto done;
            }
            long long key_hash = PyLong_AsLongLong(PyList_GET_ITEM(hashes, added));
            index_add(buf, entries_at, slots, &st, key_hash, phy, ts, first, &time_diff);
        }
        added = 0;
    }
done:
    PyBuffer_Release(&call.view);
    if (index_state_write(state, &st) < 0) return NULL;
    return Py_BuildValue("(nni)", i, added, status);
}


/* Java String.hashCode of text[start:end], continued from h (UTF-16 code units); -1 on a
 * lone surrogate, which Python's UTF-16 encoder refuses. */
static inline int
hash_more(uint32_t *h, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    uint32_t value = *h;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) return -1;
        if (c > 0xFFFF) {
            c -= 0x10000;
            value = 31u * value + (0xD800 + (c >> 10));
            value = 31u * value + (0xDC00 + (c & 0x3FF));
        } else {
            value = 31u * value + c;
        }
    }
    *h = value;
    return 0;
}

/* index_key_hash of a finished hash: |hashCode|, 0 for Integer.MIN_VALUE. */
static inline long long
index_hash(uint32_t h)
{
    return h < 0x80000000u ? (long long)h : (h == 0x80000000u ? 0 : 0x100000000LL - h);
}

#define MAX_RECORD_KEYS 64

/* index_build(mapping, entries_at, hash_slot_num, index_num, state, records, start)
 *     -> (next, entries_added)
 *
 * IndexService.build_indexes' loop for records[start:], each an IndexRecord (topic,
 * keys, unique_key, phy_offset, store_timestamp), into the newest index file, for its
 * common case: a record past the file's endPhyOffset (state[5]; nothing to compare with
 * what an earlier run indexed) whose keys hash here (index_key_hashes: topic#unique_key,
 * then topic#k for each non-empty k of keys split at spaces) and whose entries all fit
 * in the file. Stops at (returns the index of) the first other record, writing nothing
 * of it: the Python loop handles it (and raises what is due). state is updated as
 * index_put does; the caller writes the header. */
static PyObject *
speedups_index_build(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    IndexCall call;
    if (index_call_open(&call, "index_build", args, nargs) < 0) return NULL;
    Py_ssize_t entries_at = call.entries_at, start = call.start;
    long long slots = call.slots, index_num = call.index_num;
    PyObject *state = call.state, *records = call.records;
    IndexState st = call.st;
    char *buf = call.view.buf;
    long long hashes[MAX_RECORD_KEYS];
    PyObject *cached_topic = NULL; /* borrowed: the topic whose "topic#" hash is known */
    uint32_t topic_hash = 0;
    Py_ssize_t n = PyList_GET_SIZE(records), i = start, added = 0;
    for (; i < n; i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != 5) break;
        PyObject *topic = PyTuple_GET_ITEM(record, 0), *keys = PyTuple_GET_ITEM(record, 1);
        PyObject *uniq = PyTuple_GET_ITEM(record, 2);
        long long phy, ts;
        if (!PyUnicode_CheckExact(topic) || (keys != Py_None && !PyUnicode_CheckExact(keys)) ||
            (uniq != Py_None && !PyUnicode_CheckExact(uniq)) ||
            as_int64(PyTuple_GET_ITEM(record, 3), &phy) < 0 ||
            as_int64(PyTuple_GET_ITEM(record, 4), &ts) < 0 || phy <= st.end_phy) {
            break;
        }
        if (topic != cached_topic) {
            uint32_t h = 0;
            if (hash_more(&h, PyUnicode_KIND(topic), PyUnicode_DATA(topic), 0,
                          PyUnicode_GET_LENGTH(topic)) < 0) {
                break;
            }
            cached_topic = topic;
            topic_hash = 31u * h + '#';
        }
        int nh = 0, bad = 0;
        if (uniq != Py_None) {
            uint32_t h = topic_hash;
            bad = hash_more(&h, PyUnicode_KIND(uniq), PyUnicode_DATA(uniq), 0,
                            PyUnicode_GET_LENGTH(uniq)) < 0;
            hashes[nh++] = index_hash(h);
        }
        if (!bad && keys != Py_None) {
            int kind = PyUnicode_KIND(keys);
            const void *data = PyUnicode_DATA(keys);
            Py_ssize_t length = PyUnicode_GET_LENGTH(keys), from = 0;
            for (Py_ssize_t at = 0; at <= length && !bad; at++) {
                if (at < length && PyUnicode_READ(kind, data, at) != ' ') continue;
                if (at > from) { /* a non-empty key */
                    uint32_t h = topic_hash;
                    if (nh == MAX_RECORD_KEYS || hash_more(&h, kind, data, from, at) < 0) {
                        bad = 1;
                        break;
                    }
                    hashes[nh++] = index_hash(h);
                }
                from = at + 1;
            }
        }
        if (bad || st.count + nh > index_num) break;
        long long first = st.count;
        int32_t time_diff = 0;
        for (int k = 0; k < nh; k++) {
            index_add(buf, entries_at, slots, &st, hashes[k], phy, ts, first, &time_diff);
        }
        added += nh;
    }
    PyBuffer_Release(&call.view);
    if (index_state_write(state, &st) < 0) return NULL;
    return Py_BuildValue("(nn)", i, added);
}


/* ------------------------------------------------------------------ check_records */


/* rmq_protocol's CRC-32 (zlib's contract; carry-less multiplication where the CPU has
 * it), taken from the capsule rmq_protocol._speedups exports when this module is imported. */
typedef uint32_t (*crc32_fn)(uint32_t crc, const unsigned char *data, size_t n);
static crc32_fn crc32_update = NULL;

static inline uint32_t
crc32_of(const unsigned char *p, Py_ssize_t n)
{
    return crc32_update(0, p, (size_t)n);
}

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), as
 * Python's "strict" decoder judges it. */
static int
valid_utf8(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int extra;
        unsigned char low = 0x80, high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) extra = 1;
        else if (c == 0xE0) { extra = 2; low = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) extra = 2;
        else if (c == 0xED) { extra = 2; high = 0x9F; }
        else if (c >= 0xEE && c <= 0xEF) extra = 2;
        else if (c == 0xF0) { extra = 3; low = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) extra = 3;
        else if (c == 0xF4) { extra = 3; high = 0x8F; }
        else return 0;
        if (i + extra >= n) return 0; /* truncated sequence */
        if (p[i + 1] < low || p[i + 1] > high) return 0;
        for (int k = 2; k <= extra; k++) {
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return 0;
        }
        i += extra + 1;
    }
    return 1;
}

/* CommitLog._check with check_record inlined: the size of the valid record at position,
 * 0 for an end (blank marker, zeros), -1 for anything invalid. Needs no GIL. */
static Py_ssize_t
check_one(const unsigned char *buf, Py_ssize_t position, Py_ssize_t limit, int check_crc)
{
    const unsigned char *at = buf + position;
    Py_ssize_t left = limit - position;
    if (left < 8) {
        for (Py_ssize_t i = 0; i < left; i++) {
            if (at[i]) return -1;
        }
        return 0;
    }
    int32_t size = get32((const char *)at);
    uint32_t magic = (uint32_t)get32((const char *)at + 4);
    if (magic == BLANK_MAGIC) return size == left ? 0 : -1;
    if (size == 0 && magic == 0) return 0;
    if ((magic != MAGIC_V1 && magic != MAGIC_V2) || size < MIN_RECORD || size > left) return -1;
    /* check_record(buf, position, position + size) */
    Py_ssize_t end = position + size, rlimit = end;
    int32_t sys_flag = get32((const char *)at + 36);
    Py_ssize_t born_end = position + 48 + ((sys_flag & 0x10) ? 20 : 8);
    Py_ssize_t store_end = born_end + 8 + ((sys_flag & 0x20) ? 20 : 8);
    Py_ssize_t body_at = store_end + 16;
    if (body_at > rlimit) return -1;
    int32_t body_len = get32((const char *)buf + body_at - 4);
    if (body_len < 0) return -1;
    Py_ssize_t body_end = body_at + body_len, topic_at;
    int32_t topic_len;
    if (magic == MAGIC_V1) {
        if (body_end + 3 > end) return -1;
        topic_len = buf[body_end];
        if (topic_len > 127) return -1;
        topic_at = body_end + 1;
    } else {
        if (body_end + 4 > end) return -1;
        topic_len = (int16_t)(((uint16_t)buf[body_end] << 8) | buf[body_end + 1]);
        topic_at = body_end + 2;
    }
    Py_ssize_t topic_end = topic_at + topic_len;
    if (topic_len < 0 || topic_end + 2 > end) return -1;
    int32_t props_len = (int16_t)(((uint16_t)buf[topic_end] << 8) | buf[topic_end + 1]);
    if (topic_end + 2 + props_len != end) return -1;
    int32_t born_port = get32((const char *)buf + born_end - 4);
    int32_t store_port = get32((const char *)buf + store_end - 4);
    if (born_port < 0 || born_port > 0xFFFF || store_port < 0 || store_port > 0xFFFF) return -1;
    if (!valid_utf8(buf + topic_at, topic_len) || !valid_utf8(buf + topic_end + 2, props_len)) {
        return -1;
    }
    if (check_crc) {
        uint32_t crc = (uint32_t)get32((const char *)at + 8);
        if ((crc32_of(buf + body_at, body_len) & 0x7FFFFFFFu) != crc) return -1;
    }
    if (props_len != 0 && buf[end - 1] != 0x02) return -1; /* torn inside the properties */
    return size;
}

/* check_records(buffer, position, file_size, check_crc) -> (position, records, verdict)
 *
 * CommitLog.plan_recovery's inner loop over one segment: from position, step over valid
 * records (CommitLog._check) until one is not; returns where it stopped, how many records
 * it stepped over, and the verdict there: 0 an end (blank marker or zeros), 1 invalid. */
static PyObject *
speedups_check_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "check_records(buffer, position, file_size, check_crc)");
        return NULL;
    }
    Py_ssize_t position = PyLong_AsSsize_t(args[1]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    int check_crc = PyObject_IsTrue(args[3]);
    if (check_crc < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    if (limit > view.len || position < 0 || position > limit) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "check_records: position or file_size out of range");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    Py_ssize_t records = 0, size;
    int verdict;
    Py_BEGIN_ALLOW_THREADS /* the event loop runs on while recovery scans */
    for (;;) {
        size = check_one(buf, position, limit, check_crc);
        if (size <= 0) break;
        position += size;
        records++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    verdict = size == 0 ? 0 : 1;
    return Py_BuildValue("(nni)", position, records, verdict);
}

/* Whether the properties text (name\x01value\x02...) has an entry named name. */
static int
has_property(const unsigned char *props, Py_ssize_t len, const char *name, Py_ssize_t name_len)
{
    Py_ssize_t i = 0;
    while (i + name_len < len) {
        if (memcmp(props + i, name, (size_t)name_len) == 0 && props[i + name_len] == 0x01) return 1;
        const unsigned char *next = memchr(props + i, 0x02, (size_t)(len - i));
        if (next == NULL) return 0;
        i = next - props + 1;
    }
    return 0;
}

/* skip_dispatched(buffer, position, limit, base_offset, queues, index_end)
 *     -> (position, records, last_store_timestamp)
 *
 * The re-dispatch after recovery, for the records it would leave as they are: from
 * position (a record boundary below limit, in a segment recovery has just checked), step
 * over records that are already dispatched, stopping at the first that is not, at limit,
 * or at an end marker. A record is dispatched when its queue in queues ((topic, queue_id)
 * -> ConsumeQueue) has max_physic_offset at or past the record's end (transaction
 * prepared/rollback records have no unit) and, unless index_end < 0 (no index), when it
 * has no KEYS/UNIQ_KEY to index (rollbacks never do) or lies below index_end, the
 * index's endPhyOffset: RocketMQ's own rules for skipping a repeated dispatch. Anything
 * unusual stops the walk; Python's dispatch of the rest is idempotent. */
static PyObject *
speedups_skip_dispatched(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyDict_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "skip_dispatched(buffer, position, limit, base_offset, queues, index_end)");
        return NULL;
    }
    Py_ssize_t position = PyLong_AsSsize_t(args[1]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    long long base = PyLong_AsLongLong(args[3]);
    long long index_end = PyLong_AsLongLong(args[5]);
    if (PyErr_Occurred()) return NULL;
    PyObject *queues = args[4];
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    if (limit > view.len || position < 0 || position > limit) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "skip_dispatched: position or limit out of range");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    Py_ssize_t records = 0;
    long long last_stamp = 0;
    /* the queue of the previous record: runs of one queue need one lookup */
    const unsigned char *cached_topic = NULL;
    Py_ssize_t cached_len = -1;
    int32_t cached_queue = -1;
    long long cached_max = -1;
    while (limit - position >= MIN_RECORD) {
        const unsigned char *at = buf + position;
        int32_t size = get32((const char *)at);
        uint32_t magic = (uint32_t)get32((const char *)at + 4);
        if ((magic != MAGIC_V1 && magic != MAGIC_V2) || size < MIN_RECORD || size > limit - position) {
            break;
        }
        Py_ssize_t end = position + size;
        int32_t queue_id = get32((const char *)at + 12);
        int32_t sys_flag = get32((const char *)at + 36);
        Py_ssize_t born_end = position + 48 + ((sys_flag & 0x10) ? 20 : 8);
        Py_ssize_t store_end = born_end + 8 + ((sys_flag & 0x20) ? 20 : 8);
        Py_ssize_t body_at = store_end + 16;
        if (body_at > end) break;
        int32_t body_len = get32((const char *)buf + body_at - 4);
        if (body_len < 0 || body_at + body_len + 4 > end) break;
        Py_ssize_t body_end = body_at + body_len, topic_at;
        int32_t topic_len;
        if (magic == MAGIC_V1) {
            topic_len = buf[body_end];
            topic_at = body_end + 1;
        } else {
            topic_len = (int16_t)(((uint16_t)buf[body_end] << 8) | buf[body_end + 1]);
            topic_at = body_end + 2;
        }
        Py_ssize_t topic_end = topic_at + topic_len;
        if (topic_len <= 0 || topic_end + 2 > end) break;
        int32_t props_len = (int16_t)(((uint16_t)buf[topic_end] << 8) | buf[topic_end + 1]);
        if (props_len < 0 || topic_end + 2 + props_len != end) break;
        long long phy = base + position;
        int transaction = sys_flag & 0xC;
        if (!(transaction & PREPARED_OR_ROLLBACK)) {
            if (cached_topic == NULL || cached_queue != queue_id || cached_len != topic_len ||
                memcmp(cached_topic, buf + topic_at, (size_t)topic_len) != 0) {
                PyObject *topic = PyUnicode_DecodeUTF8((const char *)buf + topic_at, topic_len, NULL);
                if (topic == NULL) {
                    PyErr_Clear();
                    break;
                }
                PyObject *key = Py_BuildValue("(Ni)", topic, queue_id);
                if (key == NULL) goto error;
                PyObject *queue = PyDict_GetItemWithError(queues, key);
                Py_DECREF(key);
                if (queue == NULL) {
                    if (PyErr_Occurred()) goto error;
                    break; /* a queue without files: Python creates it */
                }
                PyObject *max_physic = PyObject_GetAttr(queue, s_max_physic_offset);
                if (max_physic == NULL) goto error;
                long long value;
                int bad = as_int64(max_physic, &value);
                Py_DECREF(max_physic);
                if (bad) break;
                cached_topic = buf + topic_at;
                cached_len = topic_len;
                cached_queue = queue_id;
                cached_max = value;
            }
            if (phy + size > cached_max) break; /* its unit is not there */
        }
        if (index_end >= 0 && phy >= index_end && transaction != 0xC) {
            const unsigned char *props = buf + topic_end + 2;
            if (has_property(props, props_len, "KEYS", 4) ||
                has_property(props, props_len, "UNIQ_KEY", 8)) {
                break; /* its index entries are not there */
            }
        }
        uint64_t high = (uint32_t)get32((const char *)buf + born_end);
        uint64_t low = (uint32_t)get32((const char *)buf + born_end + 4);
        last_stamp = (long long)(high << 32 | low);
        position = end;
        records++;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnL)", position, records, last_stamp);
error:
    PyBuffer_Release(&view);
    return NULL;
}

/* ------------------------------------------------------------------ read */

static inline long long get64(const char *p)
{
    return (long long)(((uint64_t)(uint32_t)get32(p) << 32) | (uint32_t)get32(p + 4));
}

/* The tag-code pre-filter: a set or frozenset of ints only (anything else: the caller
 * declines). Up to TAG_ARRAY codes are compared in a C array; a larger set is asked with
 * PySet_Contains, which runs no Python code on a set of exact ints. */
#define TAG_ARRAY 16
typedef struct {
    PyObject *set; /* borrowed; NULL: no filter */
    long long codes[TAG_ARRAY];
    Py_ssize_t count; /* -1: use PySet_Contains */
} TagFilter;

static int
tag_filter_load(TagFilter *filter, PyObject *codes) /* 0, or -1 (no exception): decline */
{
    filter->set = NULL;
    filter->count = 0;
    if (codes == Py_None) return 0;
    if (!PySet_CheckExact(codes) && !PyFrozenSet_CheckExact(codes)) return -1;
    Py_ssize_t count = 0;
    int small = PySet_GET_SIZE(codes) <= TAG_ARRAY, exact = 1;
    PyObject *iterator = PyObject_GetIter(codes), *item;
    if (iterator == NULL) {
        PyErr_Clear();
        return -1;
    }
    while ((item = PyIter_Next(iterator)) != NULL) {
        long long code;
        if (!PyLong_CheckExact(item)) {
            exact = 0;
        } else if (small && count < TAG_ARRAY) {
            if (as_int64(item, &code) < 0) {
                small = 0; /* never equal to a unit's int64: the set answers */
            } else {
                filter->codes[count++] = code;
            }
        }
        Py_DECREF(item);
        if (!exact) break;
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (!exact) return -1;
    filter->set = codes;
    filter->count = small ? count : -1;
    return 0;
}

static int
tag_filter_keeps(const TagFilter *filter, long long code) /* 1, 0, or -1 (no exception) */
{
    if (filter->set == NULL) return 1;
    if (filter->count >= 0) {
        for (Py_ssize_t i = 0; i < filter->count; i++) {
            if (filter->codes[i] == code) return 1;
        }
        return 0;
    }
    PyObject *key = PyLong_FromLongLong(code);
    if (key == NULL) {
        PyErr_Clear();
        return -1;
    }
    int found = PySet_Contains(filter->set, key);
    Py_DECREF(key);
    if (found < 0) {
        PyErr_Clear();
        return -1;
    }
    return found;
}

/* segment[position:position + size] for a one-dimensional, contiguous byte memoryview
 * (the caller checked the bounds): what slicing makes (a new view of the same managed
 * buffer, counted among its exports, so the mapping cannot close under it), without the
 * slice object and the two ints slicing builds per message. */
static PyObject *
view_slice(PyObject *segment, Py_ssize_t position, Py_ssize_t size)
{
    PyObject *view = PyMemoryView_FromObject(segment); /* the whole segment, shared */
    if (view == NULL) return NULL;
    Py_buffer *buffer = &((PyMemoryViewObject *)view)->view;
    buffer->buf = (char *)buffer->buf + position;
    buffer->len = size;
    buffer->shape[0] = size;
    return view;
}

/*
 * MessageStore._scan_units for units that all lie in one copied run of a consume-queue
 * file (units, bytes, a multiple of 20; complete: no units follow the run in the range)
 * and messages that all lie in the one written commit-log segment segment_view(phy)
 * returns, with tags_codes None or a set of ints and no message filter.
 *
 * read_units(units, complete, queue_offset, segment_view, segment_size, tags_codes,
 *            max_phy, in_memory_limit, memory_count, memory_bytes, disk_count, disk_bytes)
 * -> (messages, queue_offsets, total, next_offset, max_phy_pulling), or None: the
 * Python loop answers (a unit with a negative offset or a size <= 0, a second segment,
 * a missing or short segment, a run that ends before the scan does, a value out of
 * int64, an unusual filter). Nothing has changed when it declines.
 */
static PyObject *
speedups_read_units(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError,
                        "read_units(units, complete, queue_offset, segment_view, segment_size, "
                        "tags_codes, max_phy, in_memory_limit, memory_count, memory_bytes, "
                        "disk_count, disk_bytes)");
        return NULL;
    }
    PyObject *units = args[0], *segment_view = args[3];
    long long queue_offset, segment_size, max_phy, in_memory_limit, limits[4];
    if (!PyBytes_CheckExact(units) || PyBytes_GET_SIZE(units) % UNIT_SIZE) Py_RETURN_NONE;
    int complete = PyObject_IsTrue(args[1]);
    if (complete < 0) return NULL;
    if (as_int64(args[2], &queue_offset) < 0 || as_int64(args[4], &segment_size) < 0 ||
        as_int64(args[6], &max_phy) < 0 || as_int64(args[7], &in_memory_limit) < 0) {
        Py_RETURN_NONE;
    }
    for (int i = 0; i < 4; i++) {
        if (as_int64(args[8 + i], &limits[i]) < 0) Py_RETURN_NONE;
    }
    if (queue_offset < 0 || segment_size <= 0 || max_phy < 0) Py_RETURN_NONE;
    TagFilter filter;
    if (tag_filter_load(&filter, args[5]) < 0) Py_RETURN_NONE;

    const char *buf = PyBytes_AS_STRING(units);
    Py_ssize_t len = PyBytes_GET_SIZE(units);
    PyObject *messages = PyList_New(0), *offsets = PyList_New(0), *segment = NULL;
    if (messages == NULL || offsets == NULL) goto error;
    long long total = 0, next_offset = queue_offset, max_phy_pulling = 0;
    long long segment_start = 0, segment_written = 0;
    int stopped = 0;
    for (Py_ssize_t at = 0; at < len; at += UNIT_SIZE, queue_offset++) {
        long long phy = get64(buf + at);
        long long size = get32(buf + at + 8);
        long long code = get64(buf + at + 12);
        if (phy < 0 || size <= 0) goto decline;
        if (total) {
            int in_memory = max_phy - phy <= in_memory_limit;
            long long count_limit = limits[in_memory ? 0 : 2];
            long long bytes_limit = limits[in_memory ? 1 : 3];
            if (PyList_GET_SIZE(messages) >= count_limit || total + size > bytes_limit) {
                stopped = 1;
                break;
            }
        }
        max_phy_pulling = phy;
        next_offset = queue_offset + 1;
        int keeps = tag_filter_keeps(&filter, code);
        if (keeps < 0) goto decline;
        if (!keeps) continue;
        if (segment == NULL) {
            PyObject *where = PyLong_FromLongLong(phy);
            if (where == NULL) goto error;
            PyObject *found = PyObject_CallOneArg(segment_view, where);
            Py_DECREF(where);
            if (found == NULL) goto error;
            if (!PyTuple_CheckExact(found) || PyTuple_GET_SIZE(found) != 3 ||
                !PyMemoryView_Check(PyTuple_GET_ITEM(found, 2)) ||
                as_int64(PyTuple_GET_ITEM(found, 0), &segment_start) < 0 ||
                as_int64(PyTuple_GET_ITEM(found, 1), &segment_written) < 0) {
                Py_DECREF(found); /* None (no segment) among them */
                goto decline;
            }
            segment = Py_NewRef(PyTuple_GET_ITEM(found, 2));
            Py_DECREF(found);
            const Py_buffer *view = PyMemoryView_GET_BUFFER(segment);
            if (view->ndim != 1 || view->itemsize != 1 || view->suboffsets != NULL ||
                (view->strides != NULL && view->strides[0] != 1) || segment_start < 0 ||
                segment_written < 0 || segment_written > view->len) {
                goto decline;
            }
        }
        if (phy < segment_start || phy - segment_start >= segment_size) goto decline;
        long long position = phy - segment_start;
        if (position + size > segment_written) goto decline; /* removed or not written */
        PyObject *message = view_slice(segment, (Py_ssize_t)position, (Py_ssize_t)size);
        if (message == NULL) goto error;
        int failed = PyList_Append(messages, message);
        Py_DECREF(message);
        if (failed < 0) goto error;
        PyObject *offset = PyLong_FromLongLong(queue_offset);
        if (offset == NULL) goto error;
        failed = PyList_Append(offsets, offset);
        Py_DECREF(offset);
        if (failed < 0) goto error;
        total += size;
    }
    if (!stopped && !complete) goto decline; /* the scan goes on in the next file */
    Py_XDECREF(segment);
    return Py_BuildValue("(NNLLL)", messages, offsets, total, next_offset, max_phy_pulling);
decline:
    Py_XDECREF(segment);
    Py_DECREF(messages);
    Py_DECREF(offsets);
    Py_RETURN_NONE;
error:
    Py_XDECREF(segment);
    Py_XDECREF(messages);
    Py_XDECREF(offsets);
    return NULL;
}

/* pwrite(fd, data, position): write all of data at position, holding the GIL.
 *
 * MappedFile.commit's write: os.pwrite releases the GIL, and a thread that then needs it
 * back waits behind every thread that wants it (up to the 5 ms switch interval each
 * time); with 64 writer threads that made group commits 2x rarer. One commit is a few
 * dozen KB of page-cache copy, tens of microseconds. */
static PyObject *
speedups_pwrite(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "pwrite(fd, data, position)");
        return NULL;
    }
    long fd = PyLong_AsLong(args[0]);
    long long position = PyLong_AsLongLong(args[2]);
    if (PyErr_Occurred()) return NULL;
    if (fd < 0 || fd > INT_MAX || position < 0) {
        PyErr_SetString(PyExc_ValueError, "pwrite: a negative descriptor or position");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *data = view.buf;
    Py_ssize_t size = view.len;
    while (size > 0) {
        ssize_t n = pwrite((int)fd, data, (size_t)size, (off_t)position);
        if (n < 0) {
            if (errno == EINTR) continue;
            PyBuffer_Release(&view);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        data += n, size -= n, position += n;
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"dispatch", (PyCFunction)(void (*)(void))speedups_dispatch, METH_FASTCALL,
     "Consume-queue units, arrivals and index records of appended messages."},
    {"index_put", (PyCFunction)(void (*)(void))speedups_index_put, METH_FASTCALL,
     "Index entries of consecutive records into one index file."},
    {"index_build", (PyCFunction)(void (*)(void))speedups_index_build, METH_FASTCALL,
     "Index entries of IndexService records (keys hashed here) into one index file."},
    {"check_records", (PyCFunction)(void (*)(void))speedups_check_records, METH_FASTCALL,
     "Step over the valid records of a segment (recovery's scan)."},
    {"init", (PyCFunction)(void (*)(void))speedups_init, METH_FASTCALL,
     "The message type whose slots are read directly."},
    {"init_append", (PyCFunction)(void (*)(void))speedups_init_append, METH_FASTCALL,
     "The store's types, default clock, encoder, schedule topic and index batch."},
    {"pwrite", (PyCFunction)(void (*)(void))speedups_pwrite, METH_FASTCALL,
     "Write all of data at position of fd, holding the GIL."},
    {"append", (PyCFunction)(void (*)(void))speedups_append, METH_FASTCALL,
     "MessageStore.append_messages for a run of messages to one queue, or None."},
    {"skip_dispatched", (PyCFunction)(void (*)(void))speedups_skip_dispatched, METH_FASTCALL,
     "Step over records whose queue units and index entries are already written."},
    {"read_units", (PyCFunction)(void (*)(void))speedups_read_units, METH_FASTCALL,
     "MessageStore._scan_units for units in one run and messages in one segment, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "rmq_store._speedups",
    "Optional C versions of rmq_store's per-message dispatch loops.", -1, speedups_methods,
};

#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC
PyInit__speedups(void)
{
    /* Without rmq_protocol's C module (or with a build too old to export it) this
     * module does not load, and the store runs its Python paths. */
    crc32_update = (crc32_fn)PyCapsule_Import("rmq_protocol._speedups.crc32_api", 0);
    if (crc32_update == NULL) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ImportError,
                        "rmq_store._speedups needs rmq_protocol._speedups.crc32_api: "
                        "reinstall rmq-protocol where a C compiler is present (until then "
                        "the store runs its pure-Python paths)");
        return NULL;
    }
    INTERN(s_topic, "topic");
    INTERN(s_queue_id, "queue_id");
    INTERN(s_sys_flag, "sys_flag");
    INTERN(s_properties, "properties");
    INTERN(s_files, "_files");
    INTERN(s_file_size, "file_size");
    INTERN(s_map, "_map");
    INTERN(s_append_state, "_append_state");
    INTERN(s_closed, "_closed");
    INTERN(s_writes_refused, "_writes_refused");
    INTERN(s_segments, "_segments");
    INTERN(s_index_pending, "_index_pending");
    INTERN(s_clock_ms, "_clock_ms");
    INTERN(s_write_index, "_write_index");
    INTERN(s_host, "host");
    INTERN(s_port, "port");
    INTERN(s_pwrite, "pwrite");
    s_raise_errors_kw = Py_BuildValue("(s)", "raise_errors");
    if (s_raise_errors_kw == NULL) return NULL;
    INTERN(s_wrote_position, "wrote_position");
    INTERN(s_pending_size, "pending_size");
    INTERN(s_file_from_offset, "file_from_offset");
    INTERN(s_max_physic_offset, "max_physic_offset");
    INTERN(s_tags, "TAGS");
    INTERN(s_keys, "KEYS");
    INTERN(s_uniq_key, "UNIQ_KEY");
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) return NULL;
    if (PyModule_AddIntConstant(module, "ABI", SPEEDUPS_ABI) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
