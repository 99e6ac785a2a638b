/*
 * rmq_protocol._wire: optional C versions of the per-request remoting codec.
 *
 * - decode_command(frame): a frame (without its length prefix) to a RemotingCommand, for
 *   both header serialisations. The JSON header is read by a small parser made for the
 *   flat object RocketMQ peers send (a handful of scalars and the extFields object of
 *   strings); the ROCKETMQ binary header by its fixed layout.
 * - HeaderDecoder(cls, fields, fallback): the from_ext_fields of one typed header class,
 *   driven by its field specs (key, kind, required, default).
 *
 * Every function mirrors the pure-Python reference in rmq_protocol.codec.command /
 * header.py exactly, and the reference stays in use where this module is not built. The
 * C code takes only the common case. For anything unusual (a number where a string is
 * expected, a float, a nested value, a lone surrogate escape, a duplicate key, a value
 * out of range, any malformed input, ...) it calls the Python function, which gives the
 * answer or raises its precise error: error texts live in one place. The differential
 * tests in tests/test_wire.py feed both the same inputs. Decision D19 in
 * docs/design/decisions.md records why C speedups exist at all.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CACHE_BITS 9
#define CACHE_SLOTS (1 << CACHE_BITS)
#define CACHE_MAX_LEN 24
/* One entry of a string cache: the text, zero-padded to CACHE_MAX_LEN bytes, its length
 * and the str (NULL: empty). */
typedef struct {
    uint64_t w[3];
    Py_ssize_t len;
    PyObject *str;
} CacheSlot;
static CacheSlot key_cache[CACHE_SLOTS];   /* interned */
static CacheSlot value_cache[CACHE_SLOTS]; /* not interned: values churn */
static unsigned char escape_extra[256];
static PyObject *cached_ascii(CacheSlot *cache, const unsigned char *s, Py_ssize_t n,
                              Py_ssize_t avail, int intern);

/* Bumped whenever a function's contract changes: the loader ignores a stale build. */
#define WIRE_ABI 3

#define COPY_BODY_BELOW 4096 /* command.py's _COPY_BODY_BELOW */
#define BIN_FIXED_SIZE 17    /* code, language, version, opaque, flag, remark length */
#define MAX_LANGUAGES 64

enum { OK = 0, FALLBACK = 1, ERR = -1 };

/* ------------------------------------------------------------------ state from init() */

static PyTypeObject *command_type = NULL; /* RemotingCommand */
static PyObject *py_decode_command = NULL; /* the reference decoder */
static PyObject *py_encode_command = NULL; /* the reference encoder */
static PyObject *py_encode_response = NULL; /* the reference of encode_response */
static PyObject *response_version = NULL;   /* the version a response carries */
static PyObject *flag_response = NULL;      /* 1: the frame is a response */
static PyObject *empty_body = NULL;         /* b"" */
static PyObject *serialize_json = NULL, *serialize_rocketmq = NULL;
static PyObject *language_java = NULL, *language_other = NULL;
static PyObject *languages = NULL;  /* tuple of LanguageCode members (keeps them alive) */
static PyObject *lang_by_byte[256]; /* borrowed from `languages` */
static struct {
    const char *name; /* borrowed from the member's _name_ (kept alive by the member) */
    Py_ssize_t len;
    PyObject *member;
} lang_names[MAX_LANGUAGES];
static int lang_count = 0;
static PyObject *str_true = NULL, *str_false = NULL; /* "true", "false" */

static PyObject *
wire_init(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"command_type", "decode_command", "encode_command",
                               "encode_response", "version", "languages", "java", "other",
                               "json", "rocketmq", NULL};
    PyObject *ctype, *decode, *encode, *encode_resp, *version, *langs, *java, *other, *json,
        *rocketmq;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOOO!O!OOOO:init", keywords, &PyType_Type,
                                     &ctype, &decode, &encode, &encode_resp, &PyLong_Type,
                                     &version, &PyTuple_Type, &langs, &java, &other, &json,
                                     &rocketmq)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)ctype, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "command_type must be a tuple subclass");
        return NULL;
    }
    if (PyTuple_GET_SIZE(langs) > MAX_LANGUAGES) {
        PyErr_Format(PyExc_ValueError, "at most %d languages", MAX_LANGUAGES);
        return NULL;
    }
    PyObject *by_byte[256];
    for (int i = 0; i < 256; i++) by_byte[i] = NULL;
    int count = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(langs); i++) {
        PyObject *member = PyTuple_GET_ITEM(langs, i);
        long value = PyLong_AsLong(member);
        if (value == -1 && PyErr_Occurred()) return NULL;
        if (value < 0 || value > 255) {
            PyErr_Format(PyExc_ValueError, "language value %ld outside 0..255", value);
            return NULL;
        }
        PyObject *name = PyObject_GetAttrString(member, "_name_");
        if (name == NULL) return NULL;
        Py_ssize_t len;
        const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &len) : NULL;
        if (text == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "_name_ must be a str");
            Py_DECREF(name);
            return NULL;
        }
        Py_DECREF(name); /* the member's __dict__ keeps its name alive */
        by_byte[value] = member;
        lang_names[count].name = text;
        lang_names[count].len = len;
        lang_names[count].member = member;
        count++;
    }
    if (str_true == NULL) {
        str_true = PyUnicode_InternFromString("true");
        str_false = PyUnicode_InternFromString("false");
        if (str_true == NULL || str_false == NULL) return NULL;
    }
    memcpy(lang_by_byte, by_byte, sizeof(by_byte));
    lang_count = count;
    Py_INCREF(ctype);
    Py_XSETREF(command_type, (PyTypeObject *)ctype);
    Py_INCREF(decode);
    Py_XSETREF(py_decode_command, decode);
    Py_INCREF(encode);
    Py_XSETREF(py_encode_command, encode);
    Py_XSETREF(py_encode_response, Py_NewRef(encode_resp));
    Py_XSETREF(response_version, Py_NewRef(version));
    if (flag_response == NULL) {
        flag_response = PyLong_FromLong(1);
        empty_body = PyBytes_FromStringAndSize(NULL, 0);
        if (flag_response == NULL || empty_body == NULL) return NULL;
    }
    Py_INCREF(langs);
    Py_XSETREF(languages, langs);
    Py_INCREF(java);
    Py_XSETREF(language_java, java);
    Py_INCREF(other);
    Py_XSETREF(language_other, other);
    Py_INCREF(json);
    Py_XSETREF(serialize_json, json);
    Py_INCREF(rocketmq);
    Py_XSETREF(serialize_rocketmq, rocketmq);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ small helpers */

static inline uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline int16_t
be16s(const unsigned char *p)
{
    return (int16_t)(((uint16_t)p[0] << 8) | p[1]);
}

/* A str from UTF-8 bytes; FALLBACK (no error set) when they are not valid UTF-8. */
static int
utf8_str(const unsigned char *data, Py_ssize_t len, PyObject **out)
{
    Py_ssize_t i = 0;
    while (i < len && data[i] < 0x80) i++;
    if (i == len) {
        PyObject *s = PyUnicode_New(len, 127);
        if (s == NULL) return ERR;
        memcpy(PyUnicode_1BYTE_DATA(s), data, (size_t)len);
        *out = s;
        return OK;
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)data, len, NULL);
    if (s == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            return FALLBACK;
        }
        return ERR;
    }
    *out = s;
    return OK;
}

/* utf8_str through a string cache for short ASCII text; `avail` bytes from `data` on
 * may be read (at least `len`). */
static int
utf8_str_cached(const unsigned char *data, Py_ssize_t len, Py_ssize_t avail, CacheSlot *cache,
                int intern, PyObject **out)
{
    if (len <= CACHE_MAX_LEN) {
        Py_ssize_t i = 0;
        while (i < len && data[i] < 0x80) i++;
        if (i == len) {
            *out = cached_ascii(cache, data, len, avail, intern);
            return *out == NULL ? ERR : OK;
        }
    }
    return utf8_str(data, len, out);
}

/* A new instance of the tuple subclass `type` holding `n` stolen references. */
static PyObject *
new_tuple_of(PyTypeObject *type, PyObject **items, Py_ssize_t n)
{
    PyObject *obj = type->tp_alloc(type, n);
    if (obj == NULL) {
        for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(items[i]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(obj, i, items[i]);
    return obj;
}

/* ------------------------------------------------------------------ string caches */

/* extFields keys and short values repeat from request to request ("a".."n", "topic",
 * "queueId", "0", "false", a topic name): a small direct-mapped cache hands out the same
 * str object for the same ASCII bytes, which saves the allocation, the hashing and the
 * free of each, and (keys being interned) turns the typed header's lookups into identity
 * hits. Strings are immutable, so sharing them is invisible to Python code. */
static PyObject *one_char[128]; /* interned one-character ASCII strings, made on first use */

static Py_NO_INLINE PyObject *
new_one_char(unsigned char ch)
{
    PyObject *str = PyUnicode_New(1, 127);
    if (str == NULL) return NULL;
    PyUnicode_1BYTE_DATA(str)[0] = ch;
    PyUnicode_InternInPlace(&str);
    one_char[ch] = str; /* owns the reference */
    return Py_NewRef(str);
}

static inline PyObject *
one_char_str(unsigned char ch)
{
    PyObject *str = one_char[ch];
    return str != NULL ? Py_NewRef(str) : new_one_char(ch);
}

/* The `n` (<= CACHE_MAX_LEN) bytes at `s` as three words, zero-padded; `avail` bytes from
 * `s` on may be read. Little-endian machines load whole words and mask the tail. */
static inline void
padded_words(const unsigned char *s, Py_ssize_t n, Py_ssize_t avail, uint64_t w[3])
{
#if PY_LITTLE_ENDIAN
    if (avail >= CACHE_MAX_LEN) {
        memcpy(w, s, CACHE_MAX_LEN);
        uint64_t tail = ((uint64_t)1 << ((n & 7) * 8)) - 1; /* n & 7 == 0: none */
        if (n < 8) {
            w[0] &= tail;
            w[1] = w[2] = 0;
        } else if (n < 16) {
            w[1] &= tail;
            w[2] = 0;
        } else if (n < 24) {
            w[2] &= tail;
        }
        return;
    }
#endif
    unsigned char buf[CACHE_MAX_LEN] = {0};
    memcpy(buf, s, (size_t)n);
    memcpy(w, buf, CACHE_MAX_LEN);
}

static PyObject *
cached_ascii(CacheSlot *cache, const unsigned char *s, Py_ssize_t n, Py_ssize_t avail,
             int intern)
{
    if (n == 1) return one_char_str(s[0]); /* SEND_MESSAGE_V2's keys, queue ids, flags */
    uint64_t w[3];
    padded_words(s, n, avail, w);
    uint64_t h = (w[0] ^ (w[1] * 0x9E3779B97F4A7C15ULL) ^ (w[2] * 0xC2B2AE3D27D4EB4FULL) ^
                  (uint64_t)n) * 0xFF51AFD7ED558CCDULL;
    CacheSlot *slot = &cache[h >> (64 - CACHE_BITS)];
    if (slot->str != NULL && slot->len == n && slot->w[0] == w[0] && slot->w[1] == w[1] &&
        slot->w[2] == w[2]) {
        return Py_NewRef(slot->str);
    }
    PyObject *str = PyUnicode_New(n, 127);
    if (str == NULL) return NULL;
    memcpy(PyUnicode_1BYTE_DATA(str), s, (size_t)n);
    if (intern) PyUnicode_InternInPlace(&str);
    Py_XSETREF(slot->str, Py_NewRef(str));
    memcpy(slot->w, w, sizeof(w));
    slot->len = n;
    return str;
}

/* ------------------------------------------------------------------ JSON reading */

/* 1 for the bytes a JSON string holds as they are: printable ASCII but '"' and '\\'. */
static unsigned char plain_ascii[256];
/* hex_value[b]: the value of hex digit b, 0xFF for any other byte. */
static unsigned char hex_value[256];

/* The bytes orjson writes escaped, and how many bytes more each takes: \" \\ and the
 * short escapes \b \t \n \f \r take 2, other control characters \u00XX take 6. */
static void
init_tables(void)
{
    for (int ch = 0x20; ch < 0x80; ch++) plain_ascii[ch] = ch != '"' && ch != '\\';
    for (int ch = 0; ch < 0x20; ch++) escape_extra[ch] = 5;
    escape_extra['\b'] = escape_extra['\t'] = escape_extra['\n'] = 1;
    escape_extra['\f'] = escape_extra['\r'] = 1;
    escape_extra['"'] = escape_extra['\\'] = 1;
    memset(hex_value, 0xFF, sizeof(hex_value));
    for (int i = 0; i < 10; i++) hex_value['0' + i] = (unsigned char)i;
    for (int i = 0; i < 6; i++) hex_value['a' + i] = hex_value['A' + i] = (unsigned char)(10 + i);
}

typedef struct {
    const unsigned char *p, *end;
} Cursor;

static inline void
skip_ws(Cursor *c)
{
    if (c->p < c->end && *c->p > ' ') return; /* the usual case: no blank */
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* Past `ch` at c->p and the blanks around it; 0 (c->p anywhere) when `ch` is not there. */
static inline int
punct(Cursor *c, unsigned char ch)
{
    const unsigned char *p = c->p;
    if (c->end - p >= 2 && p[0] == ch && p[1] > ' ') { /* compact JSON */
        c->p = p + 1;
        return 1;
    }
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch) return 0;
    c->p++;
    skip_ws(c);
    return 1;
}

static inline int
hex4(const unsigned char *p, unsigned int *out)
{
    unsigned int a = hex_value[p[0]], b = hex_value[p[1]], c = hex_value[p[2]], d = hex_value[p[3]];
    if ((a | b | c | d) & 0xF0) return -1;
    *out = (a << 12) | (b << 8) | (c << 4) | d;
    return 0;
}

#if PY_LITTLE_ENDIAN && (defined(__GNUC__) || defined(__clang__))
#define SWAR_SCAN 1
/* The bytes of `w` (8 bytes of a JSON string) that end a plain run: '"', '\\', a control
 * character (< 0x20) or a non-ASCII byte (>= 0x80). A byte's high bit is set when it is
 * >= 0x80 (w), < 0x20 (w - 0x20 wraps), '"' or '\\' (its XOR is 0, minus 1 wraps). Of the
 * bytes < 0x80 before the first such byte none borrows, so the lowest flag is exact
 * (later ones may be borrows: they are not looked at). */
static inline uint64_t
plain_hits(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    return ((w - ones * 0x20) | (quote - ones) | (backslash - ones) | w) & highs;
}
#else
#define SWAR_SCAN 0
#endif

/* The first byte from p on (before end) that ends a plain run of a JSON string (see
 * plain_hits); end if none. Eight bytes at a time on little-endian machines. */
static inline const unsigned char *
plain_end(const unsigned char *p, const unsigned char *end)
{
#if SWAR_SCAN
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t hits = plain_hits(w);
        if (hits) return p + (__builtin_ctzll(hits) >> 3);
        p += 8;
    }
#endif
    while (p < end && plain_ascii[*p]) p++;
    return p;
}

/* plain_end that also copies the bytes it passes to `out` (room for end - p bytes: it
 * writes whole words) and adds their count to *n. */
static inline const unsigned char *
copy_plain(const unsigned char *p, const unsigned char *end, unsigned char *out, Py_ssize_t *n)
{
    const unsigned char *from = p;
#if SWAR_SCAN
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        memcpy(out + (p - from), &w, 8);
        uint64_t hits = plain_hits(w);
        if (hits) {
            p += __builtin_ctzll(hits) >> 3;
            *n += p - from;
            return p;
        }
        p += 8;
    }
#endif
    while (p < end && plain_ascii[*p]) {
        out[p - from] = *p;
        p++;
    }
    *n += p - from;
    return p;
}

/* parse_string_in past its plain ASCII start: `p` (after c->p) is the first byte that is
 * not plain ASCII: a non-ASCII byte, an escape, a control character, the closing quote
 * after such bytes, or the end. Kept out of line: the common strings never get here. */
static Py_NO_INLINE int
parse_string_rest(Cursor *c, const unsigned char *p, PyObject **out)
{
    const unsigned char *start = c->p, *end = c->end;
    int ascii = 1;
    while (p < end) {
        unsigned char ch = *p;
        if (ch == '"') break;
        if (ch == '\\') goto escaped;
        if (ch < 0x20) return FALLBACK;
        ascii = 0; /* >= 0x80 */
        p = plain_end(p + 1, end);
    }
    if (p >= end) return FALLBACK;
    c->p = p + 1;
    {
        PyObject *s = NULL;
        int status = utf8_str(start, p - start, &s);
        if (status != OK) return status;
        if (out == NULL) Py_DECREF(s);
        else *out = s;
        return OK;
    }
escaped:;
    /* The decoded UTF-8 is never longer than its JSON text: \uXXXX (6 bytes) gives at
     * most 3, a surrogate pair (12) gives 4, a two-byte escape gives 1. */
    unsigned char stack[512];
    unsigned char *buf = stack;
    Py_ssize_t room = end - start;
    if (room > (Py_ssize_t)sizeof(stack)) {
        buf = PyMem_Malloc((size_t)room);
        if (buf == NULL) {
            PyErr_NoMemory();
            return ERR;
        }
    }
    Py_ssize_t n = p - start;
    memcpy(buf, start, (size_t)n);
    int status = FALLBACK;
    /* ascii: no byte >= 0x80 in the text so far (the usual properties text: only \u0001
     * and \u0002 escapes), so the decoded bytes are a str as they are. */
    while (p < end) {
        p = copy_plain(p, end, buf + n, &n);
        if (p >= end) break;
        unsigned char ch = *p;
        if (ch == '"') {
            status = OK;
            break;
        }
        if (ch < 0x20) goto done;
        if (ch != '\\') { /* UTF-8, checked by the decode at the end */
            buf[n++] = ch;
            p++;
            ascii = 0;
            continue;
        }
        if (end - p < 2) goto done;
        unsigned char e = p[1];
        p += 2;
        if (e != 'u') { /* \u0001, \u0002 (the properties' separators) are the usual ones */
            switch (e) {
            case '"': buf[n++] = '"'; continue;
            case '\\': buf[n++] = '\\'; continue;
            case '/': buf[n++] = '/'; continue;
            case 'b': buf[n++] = '\b'; continue;
            case 'f': buf[n++] = '\f'; continue;
            case 'n': buf[n++] = '\n'; continue;
            case 'r': buf[n++] = '\r'; continue;
            case 't': buf[n++] = '\t'; continue;
            default: goto done;
            }
        }
        unsigned int cp;
        if (end - p < 4 || hex4(p, &cp) < 0) goto done;
        p += 4;
        if (cp < 0x80) {
            buf[n++] = (unsigned char)cp;
            continue;
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) goto done; /* lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned int low;
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &low) < 0 ||
                low < 0xDC00 || low > 0xDFFF) {
                goto done; /* lone high surrogate */
            }
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        ascii = 0;
        if (cp < 0x800) {
            buf[n++] = (unsigned char)(0xC0 | (cp >> 6));
            buf[n++] = (unsigned char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            buf[n++] = (unsigned char)(0xE0 | (cp >> 12));
            buf[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            buf[n++] = (unsigned char)(0x80 | (cp & 0x3F));
        } else {
            buf[n++] = (unsigned char)(0xF0 | (cp >> 18));
            buf[n++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            buf[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            buf[n++] = (unsigned char)(0x80 | (cp & 0x3F));
        }
    }
done:
    if (status == OK) {
        c->p = p + 1;
        PyObject *s = NULL;
        if (ascii) {
            s = PyUnicode_New(n, 127);
            if (s == NULL) status = ERR;
            else memcpy(PyUnicode_1BYTE_DATA(s), buf, (size_t)n);
        } else {
            status = utf8_str(buf, n, &s);
        }
        if (status == OK) {
            if (out == NULL) Py_DECREF(s);
            else *out = s;
        }
    }
    if (buf != stack) PyMem_Free(buf);
    return status;
}

/* The JSON string starting after its opening quote at c->p, as a str in *out (or only
 * checked when out is NULL); c->p ends after the closing quote. Short ASCII text comes
 * from `cache` (when not NULL). FALLBACK for a raw control character, an escape other
 * than JSON's, a lone surrogate escape, invalid UTF-8 or a missing closing quote: the
 * reference parser decides those. */
static inline Py_ALWAYS_INLINE int
parse_string_in(Cursor *c, PyObject **out, CacheSlot *cache, int intern)
{
    const unsigned char *start = c->p, *end = c->end;
    const unsigned char *p = plain_end(start, end);
    if (p >= end || *p != '"') return parse_string_rest(c, p, out);
    /* the usual case: ASCII, nothing escaped */
    c->p = p + 1;
    if (out == NULL) return OK;
    Py_ssize_t n = p - start;
    if (cache != NULL && n <= CACHE_MAX_LEN) {
        *out = n == 1 ? one_char_str(*start) : cached_ascii(cache, start, n, end - start, intern);
        return *out == NULL ? ERR : OK;
    }
    PyObject *s = PyUnicode_New(n, 127);
    if (s == NULL) return ERR;
    memcpy(PyUnicode_1BYTE_DATA(s), start, (size_t)n);
    *out = s;
    return OK;
}

static inline int
parse_string(Cursor *c, PyObject **out)
{
    return parse_string_in(c, out, NULL, 0);
}

/* A JSON integer literal at c->p: '-'? ('0' | [1-9][0-9]*) of at most 18 digits, not
 * followed by a digit, '.', 'e' or 'E'. FALLBACK for anything else (floats, big numbers,
 * leading zeros, "-0"). *start is where the literal begins. */
static int
parse_int(Cursor *c, long long *value, const unsigned char **start)
{
    const unsigned char *p = c->p, *end = c->end;
    *start = p;
    int negative = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    const unsigned char *digits = p;
    if (p >= end || *p < '0' || *p > '9') return FALLBACK;
    if (*p == '0') p++;
    else while (p < end && *p >= '0' && *p <= '9') p++;
    if (p - digits > 18) return FALLBACK;
    if (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E'))
        return FALLBACK;
    long long v = 0;
    for (const unsigned char *q = digits; q < p; q++) v = v * 10 + (*q - '0');
    if (negative) {
        if (v == 0) return FALLBACK;
        v = -v;
    }
    *value = v;
    c->p = p;
    return OK;
}

static inline int
literal(Cursor *c, const char *word, Py_ssize_t len)
{
    if (c->end - c->p >= len && memcmp(c->p, word, (size_t)len) == 0) {
        c->p += len;
        return 1;
    }
    return 0;
}

/* Check a top-level value of a key the command ignores (serializeTypeCurrentRPC, ...):
 * a string, an integer, true, false or null. Anything else: FALLBACK. */
static int
skip_value(Cursor *c)
{
    if (c->p >= c->end) return FALLBACK;
    unsigned char ch = *c->p;
    if (ch == '"') {
        c->p++;
        return parse_string(c, NULL);
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        long long ignored;
        const unsigned char *start;
        return parse_int(c, &ignored, &start);
    }
    if (literal(c, "true", 4) || literal(c, "false", 5) || literal(c, "null", 4)) return OK;
    return FALLBACK;
}

/* The extFields object at c->p (its '{'), as a dict of str to str in *out. Integer,
 * true and false values become strings as _stringify_ext makes them. FALLBACK for null
 * values, floats, nested values, duplicate keys and anything malformed. */
static int
parse_ext(Cursor *c, PyObject **out)
{
    c->p++; /* '{' */
    /* Sized like the previous extFields (a connection sends the same kind of request
     * again and again), which saves the dict's resizes while it fills. */
    static Py_ssize_t last_size = 0;
    PyObject *ext = _PyDict_NewPresized(last_size);
    if (ext == NULL) return ERR;
    int status = FALLBACK;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        *out = ext;
        return OK;
    }
    for (;;) {
        PyObject *key = NULL, *value = NULL;
        const unsigned char *p = c->p;
        if (c->end - p >= 3 && p[0] == '"' && p[2] == '"' && plain_ascii[p[1]]) {
            key = one_char_str(p[1]); /* SEND_MESSAGE_V2's "a".."n" */
            if (key == NULL) {
                status = ERR;
                goto fail;
            }
            c->p = p + 3;
        } else {
            if (p >= c->end || *p != '"') goto fail;
            c->p++;
            if ((status = parse_string_in(c, &key, key_cache, 1)) != OK) goto fail;
        }
        status = FALLBACK;
        if (!punct(c, ':') || c->p >= c->end) {
            Py_DECREF(key);
            goto fail;
        }
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            status = parse_string_in(c, &value, value_cache, 0);
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            long long number;
            const unsigned char *start;
            status = parse_int(c, &number, &start);
            if (status == OK) {
                value = PyUnicode_New(c->p - start, 127);
                if (value == NULL) status = ERR;
                else memcpy(PyUnicode_1BYTE_DATA(value), start, (size_t)(c->p - start));
            }
        } else if (literal(c, "true", 4)) {
            value = Py_NewRef(str_true);
            status = OK;
        } else if (literal(c, "false", 5)) {
            value = Py_NewRef(str_false);
            status = OK;
        } else {
            status = FALLBACK;
        }
        if (status != OK) {
            Py_DECREF(key);
            goto fail;
        }
        Py_ssize_t before = PyDict_GET_SIZE(ext);
        int failed = PyDict_SetItem(ext, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed < 0) {
            status = ERR;
            goto fail;
        }
        status = FALLBACK;
        if (PyDict_GET_SIZE(ext) == before) goto fail; /* duplicate key */
        if (c->end - c->p >= 2 && c->p[0] == ',' && c->p[1] == '"') { /* compact JSON */
            c->p++;
            continue;
        }
        skip_ws(c);
        if (c->p >= c->end) goto fail;
        if (*c->p == '}') {
            c->p++;
            *out = ext;
            last_size = PyDict_GET_SIZE(ext) < 64 ? PyDict_GET_SIZE(ext) : 64;
            return OK;
        }
        if (*c->p != ',') goto fail;
        c->p++;
        skip_ws(c);
    }
fail:
    Py_DECREF(ext);
    return status;
}

/* An int32 field (code, opaque, flag, version); null means 0 (absent). */
static inline int
parse_int32_field(Cursor *c, long long low, long long *value)
{
    const unsigned char *p = c->p, *end = c->end;
    if (p < end && p[0] >= '0' && p[0] <= '9') { /* the usual case: 1 to 9 digits */
        const unsigned char *q = p + 1, *limit = p[0] == '0' ? q : end - p > 9 ? p + 9 : end;
        long long v = p[0] - '0';
        while (q < limit && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
        unsigned char next = q < end ? *q : '0'; /* the end: parse_int decides */
        if (!((next >= '0' && next <= '9') || next == '.' || next == 'e' || next == 'E')) {
            c->p = q;
            *value = v; /* 0 <= v < 10^9: within int32, >= low */
            return OK;
        }
    }
    if (literal(c, "null", 4)) {
        *value = 0;
        return OK;
    }
    const unsigned char *start;
    if (parse_int(c, value, &start) != OK) return FALLBACK;
    if (*value < low || *value > INT32_MAX) return FALLBACK;
    return OK;
}

enum {
    K_CODE = 1,
    K_OPAQUE = 2,
    K_FLAG = 4,
    K_VERSION = 8,
    K_EXT = 16,
    K_REMARK = 32,
    K_LANGUAGE = 64,
    K_OTHER = 128
};

static int
key_kind(const unsigned char *k, Py_ssize_t n)
{
#define IS(word) (n == (Py_ssize_t)sizeof(word) - 1 && memcmp(k, word, sizeof(word) - 1) == 0)
    if (IS("code")) return K_CODE;
    if (IS("extFields")) return K_EXT;
    if (IS("flag")) return K_FLAG;
    if (IS("language")) return K_LANGUAGE;
    if (IS("opaque")) return K_OPAQUE;
    if (IS("version")) return K_VERSION;
    if (IS("remark")) return K_REMARK;
#undef IS
    return K_OTHER;
}

typedef struct {
    long long code, opaque, flag, version;
    PyObject *ext;      /* new reference or NULL (None) */
    PyObject *remark;   /* new reference or NULL (None) */
    PyObject *language; /* borrowed */
} Fields;

static int
parse_json_header(const unsigned char *data, Py_ssize_t len, Fields *f)
{
    Cursor cur = {data, data + len};
    Cursor *c = &cur;
    int seen = 0;
    f->code = f->opaque = f->flag = f->version = 0;
    f->ext = f->remark = NULL;
    f->language = language_java; /* absent: Java's default */
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{') return FALLBACK;
    c->p++;
    skip_ws(c);
    if (c->p >= c->end || *c->p == '}') return FALLBACK; /* no code */
    for (;;) {
        if (c->p >= c->end || *c->p != '"') return FALLBACK;
        const unsigned char *key = ++c->p;
        c->p = plain_end(key, c->end);
        if (c->p >= c->end || *c->p != '"') return FALLBACK; /* escapes or non-ASCII key */
        int kind = key_kind(key, c->p - key);
        c->p++;
        if (kind != K_OTHER) {
            if (seen & kind) return FALLBACK; /* duplicate */
            seen |= kind;
        }
        if (!punct(c, ':')) return FALLBACK;
        int status = OK;
        switch (kind) {
        case K_CODE:
            if (literal(c, "null", 4)) return FALLBACK; /* required */
            status = parse_int32_field(c, INT32_MIN, &f->code);
            break;
        case K_OPAQUE: status = parse_int32_field(c, INT32_MIN, &f->opaque); break;
        case K_FLAG: status = parse_int32_field(c, 0, &f->flag); break;
        case K_VERSION: status = parse_int32_field(c, INT32_MIN, &f->version); break;
        case K_EXT:
            if (literal(c, "null", 4)) break;
            if (c->p >= c->end || *c->p != '{') return FALLBACK;
            status = parse_ext(c, &f->ext);
            break;
        case K_REMARK:
            if (literal(c, "null", 4)) break;
            if (c->p >= c->end || *c->p != '"') return FALLBACK;
            c->p++;
            status = parse_string(c, &f->remark);
            break;
        case K_LANGUAGE: {
            if (literal(c, "null", 4)) break;
            if (c->p >= c->end || *c->p != '"') return FALLBACK;
            const unsigned char *name = ++c->p;
            c->p = plain_end(name, c->end);
            if (c->p >= c->end || *c->p != '"') return FALLBACK;
            Py_ssize_t n = c->p - name;
            c->p++;
            f->language = language_other;
            for (int i = 0; i < lang_count; i++) {
                if (lang_names[i].len == n && memcmp(lang_names[i].name, name, (size_t)n) == 0) {
                    f->language = lang_names[i].member;
                    break;
                }
            }
            break;
        }
        default: status = skip_value(c); break;
        }
        if (status != OK) return status;
        if (c->end - c->p >= 2 && c->p[0] == ',' && c->p[1] == '"') { /* compact JSON */
            c->p++;
            continue;
        }
        skip_ws(c);
        if (c->p >= c->end) return FALLBACK;
        if (*c->p == '}') break;
        if (*c->p != ',') return FALLBACK;
        c->p++;
        skip_ws(c);
    }
    c->p++;
    skip_ws(c);
    if (c->p != c->end) return FALLBACK; /* trailing data */
    if (!(seen & K_CODE)) return FALLBACK;
    return OK;
}

/* ------------------------------------------------------------------ ROCKETMQ binary */

static int
parse_binary_header(const unsigned char *h, Py_ssize_t size, Fields *f)
{
    f->ext = f->remark = NULL;
    if (size < BIN_FIXED_SIZE) return FALLBACK;
    f->code = be16s(h);
    int lang = (int)(signed char)h[2];
    f->version = be16s(h + 3);
    f->opaque = (int32_t)be32(h + 5);
    f->flag = (int32_t)be32(h + 9);
    int32_t remark_len = (int32_t)be32(h + 13);
    Py_ssize_t pos = BIN_FIXED_SIZE;
    f->language = (lang >= 0 && lang_by_byte[lang] != NULL) ? lang_by_byte[lang] : language_other;
    if (remark_len) {
        if (remark_len < 0 || remark_len > size - pos) return FALLBACK;
        int status = utf8_str(h + pos, remark_len, &f->remark);
        if (status != OK) return status;
        pos += remark_len;
    }
    if (size - pos < 4) goto fallback;
    int32_t ext_len = (int32_t)be32(h + pos);
    pos += 4;
    if (ext_len < 0 || ext_len > size - pos) goto fallback;
    if (ext_len == 0) return OK;
    PyObject *ext = PyDict_New();
    if (ext == NULL) goto error;
    Py_ssize_t end = pos + ext_len;
    int status = FALLBACK;
    while (pos < end) {
        if (end - pos < 6) goto ext_fail;
        int16_t key_len = be16s(h + pos);
        pos += 2;
        if (key_len < 0 || key_len > end - pos - 4) goto ext_fail;
        const unsigned char *key_data = h + pos;
        pos += key_len;
        int32_t value_len = (int32_t)be32(h + pos);
        pos += 4;
        if (value_len < 0 || value_len > end - pos) goto ext_fail;
        const unsigned char *value_data = h + pos;
        pos += value_len;
        PyObject *key = NULL, *value = NULL;
        if ((status = utf8_str_cached(key_data, key_len, h + size - key_data, key_cache, 1,
                                      &key)) != OK) {
            goto ext_fail;
        }
        if ((status = utf8_str_cached(value_data, value_len, h + size - value_data, value_cache,
                                      0, &value)) != OK) {
            Py_DECREF(key);
            goto ext_fail;
        }
        status = FALLBACK;
        if (key_len && value_len) { /* Java: zero-length key/value are null: dropped */
            int failed = PyDict_SetItem(ext, key, value);
            Py_DECREF(key);
            Py_DECREF(value);
            if (failed < 0) {
                status = ERR;
                goto ext_fail;
            }
        } else {
            Py_DECREF(key);
            Py_DECREF(value);
        }
    }
    f->ext = ext;
    return OK;
ext_fail:
    Py_DECREF(ext);
    Py_CLEAR(f->remark);
    return status;
fallback:
    Py_CLEAR(f->remark);
    return FALLBACK;
error:
    Py_CLEAR(f->remark);
    return ERR;
}

/* ------------------------------------------------------------------ decode_command */

static PyObject *
fall_back(PyObject *frame)
{
    return PyObject_CallOneArg(py_decode_command, frame);
}

/* The header of a frame's bytes (without the length prefix) of serialize type `kind`
 * and `header_len` bytes: its fields in *f and the SerializeType in *serialize. OK, ERR,
 * or FALLBACK (no error set; *f holds no reference then). */
static int
parse_frame_header(const unsigned char *data, Py_ssize_t header_len, unsigned int kind,
                   Fields *f, PyObject **serialize)
{
    int status;
    if (kind == 0) {
        status = parse_json_header(data + 4, header_len, f);
        *serialize = serialize_json;
    } else if (kind == 1) {
        status = parse_binary_header(data + 4, header_len, f);
        *serialize = serialize_rocketmq;
    } else {
        return FALLBACK;
    }
    if (status != OK) {
        Py_XDECREF(f->ext);
        Py_XDECREF(f->remark);
    }
    return status;
}

/* The RemotingCommand of a header's fields, taking over their references and `body`'s
 * (NULL: the body could not be made). NULL with an exception when anything fails, every
 * reference released. */
/* An int like the last one made in *slot (the same object when the value is the same):
 * a connection's requests repeat their code and version (310, 479), which are past the
 * small ints Python shares. Ints are immutable, so sharing them is invisible. */
typedef struct {
    long long value;
    PyObject *obj;
} LongSlot;

static inline PyObject *
cached_long(LongSlot *slot, long long value)
{
    if (slot->obj != NULL && slot->value == value) return Py_NewRef(slot->obj);
    PyObject *obj = PyLong_FromLongLong(value);
    if (obj == NULL) return NULL;
    Py_XSETREF(slot->obj, Py_NewRef(obj));
    slot->value = value;
    return obj;
}

static PyObject *
command_of(Fields *f, PyObject *body, PyObject *serialize)
{
    static LongSlot last_code, last_version;
    PyObject *items[9];
    items[0] = cached_long(&last_code, f->code);
    items[1] = Py_NewRef(f->language);
    items[2] = cached_long(&last_version, f->version);
    items[3] = PyLong_FromLongLong(f->opaque);
    items[4] = PyLong_FromLongLong(f->flag);
    items[5] = f->remark != NULL ? f->remark : Py_NewRef(Py_None);
    items[6] = f->ext != NULL ? f->ext : Py_NewRef(Py_None);
    items[7] = body;
    items[8] = Py_NewRef(serialize);
    for (int i = 0; i < 9; i++) {
        if (items[i] == NULL) {
            for (int j = 0; j < 9; j++) Py_XDECREF(items[j]);
            return NULL;
        }
    }
    return new_tuple_of(command_type, items, 9);
}

/* The command of a frame's bytes (without the length prefix) whose body is small enough
 * to be copied (`size - header_len <= COPY_BODY_BELOW + 4`), in *out. FALLBACK (no error
 * set) for whatever the reference must decide, and for a larger body (the reference's
 * zero-copy slice needs the frame object). */
static int
decode_small(const unsigned char *data, Py_ssize_t size, PyObject **out)
{
    if (size < 4) return FALLBACK;
    uint32_t info = be32(data);
    Py_ssize_t header_len = info & 0xFFFFFF;
    unsigned int kind = info >> 24;
    if (header_len > size - 4 || size - header_len > COPY_BODY_BELOW + 4) return FALLBACK;
    Fields f;
    PyObject *serialize;
    int status = parse_frame_header(data, header_len, kind, &f, &serialize);
    if (status != OK) return status;
    Py_ssize_t body_start = 4 + header_len;
    *out = command_of(
        &f, PyBytes_FromStringAndSize((const char *)data + body_start, size - body_start),
        serialize);
    return *out == NULL ? ERR : OK;
}

static PyObject *
wire_decode_command(PyObject *module, PyObject *frame)
{
    if (command_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "rmq_protocol._wire.init() was not called");
        return NULL;
    }
    if (PyMemoryView_Check(frame)) {
        Py_buffer *mv = PyMemoryView_GET_BUFFER(frame);
        if (mv->itemsize != 1 || mv->ndim != 1 || !PyBuffer_IsContiguous(mv, 'C') ||
            (mv->format != NULL && strcmp(mv->format, "B") != 0)) {
            return fall_back(frame);
        }
    } else if (!PyBytes_CheckExact(frame) && !PyByteArray_CheckExact(frame)) {
        return fall_back(frame);
    }
    Py_buffer view;
    if (PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        return fall_back(frame);
    }
    const unsigned char *data = view.buf;
    Py_ssize_t size = view.len;
    PyObject *cmd = NULL;
    int status = decode_small(data, size, &cmd);
    if (status == OK || status == ERR) {
        PyBuffer_Release(&view);
        return cmd;
    }
    if (size < 4) goto fallback;
    uint32_t info = be32(data);
    Py_ssize_t header_len = info & 0xFFFFFF;
    unsigned int kind = info >> 24;
    if (header_len > size - 4 || size - header_len <= COPY_BODY_BELOW + 4) goto fallback;
    /* Large body (pull responses): a zero-copy memoryview slice, as the reference. */
    Fields f;
    PyObject *serialize;
    status = parse_frame_header(data, header_len, kind, &f, &serialize);
    if (status == ERR) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (status != OK) goto fallback;
    Py_ssize_t body_start = 4 + header_len;
    PyObject *mv = PyMemoryView_Check(frame) ? Py_NewRef(frame) : PyMemoryView_FromObject(frame);
    PyObject *body = NULL;
    if (mv != NULL) {
        PyObject *start = PyLong_FromSsize_t(body_start);
        PyObject *slice = start == NULL ? NULL : PySlice_New(start, NULL, NULL);
        Py_XDECREF(start);
        if (slice != NULL) {
            body = PyObject_GetItem(mv, slice);
            Py_DECREF(slice);
        }
        Py_DECREF(mv);
    }
    PyBuffer_Release(&view);
    return command_of(&f, body, serialize);
fallback:
    PyBuffer_Release(&view);
    return fall_back(frame);
}

/* ------------------------------------------------------------------ decode_frames */

/* decode_frames(data, pos, max_frame_size) -> (commands, end): the commands of the
 * complete frames of `data` (a bytes-like stream of length-prefixed frames) from `pos` on,
 * in order, and where the first frame not decoded starts. It stops at a partial frame, a
 * length outside 4..max_frame_size - 4, and any frame that decode_command would not take
 * in C with a copied body (odd headers, malformed frames, bodies over 4 KiB): the caller
 * reads that one with FrameDecoder.next_command, which decodes it or raises the error. */
static PyObject *
wire_decode_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "decode_frames(data, pos, max_frame_size)");
        return NULL;
    }
    if (command_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "rmq_protocol._wire.init() was not called");
        return NULL;
    }
    Py_ssize_t pos = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (pos == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t max_frame = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    if (max_frame == -1 && PyErr_Occurred()) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *commands = PyList_New(0);
    if (commands == NULL) goto error;
    if (pos < 0 || pos > view.len) {
        PyErr_SetString(PyExc_ValueError, "pos outside data");
        goto error;
    }
    const unsigned char *data = view.buf;
    while (view.len - pos >= 4) {
        int32_t length = (int32_t)be32(data + pos);
        if (length < 4 || (Py_ssize_t)length > max_frame - 4 || length > view.len - pos - 4)
            break;
        PyObject *cmd = NULL;
        int status = decode_small(data + pos + 4, length, &cmd);
        if (status == ERR) goto error;
        if (status != OK) break;
        int failed = PyList_Append(commands, cmd);
        Py_DECREF(cmd);
        if (failed < 0) goto error;
        pos += 4 + (Py_ssize_t)length;
    }
    PyBuffer_Release(&view);
    PyObject *end = PyLong_FromSsize_t(pos);
    if (end == NULL) {
        Py_DECREF(commands);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, commands, end);
    Py_DECREF(commands);
    Py_DECREF(end);
    return result;
error:
    Py_XDECREF(commands);
    PyBuffer_Release(&view);
    return NULL;
}

/* ------------------------------------------------------------------ encode_command */


#define MAX_HEADER_LEN 0xFFFFFF

/* Whether any of the 8 bytes of `w` is one orjson escapes: a control character (< 0x20),
 * '"' or '\\' (exact: the zero-byte tests below have no false negatives or positives for
 * "some byte matches"). */
static inline int
needs_escape8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t below_space = (w - ones * 0x20) & ~w;
    uint64_t is_quote = (quote - ones) & ~quote, is_backslash = (backslash - ones) & ~backslash;
    return ((below_space | is_quote | is_backslash) & highs) != 0;
}

/* The length of `s` (UTF-8) as orjson writes it inside quotes; 8 bytes at a time where
 * none needs escaping (most text: ids, names, numbers). */
static Py_ssize_t
escaped_len(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t len = n, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (!needs_escape8(w)) continue;
        for (int j = 0; j < 8; j++) len += escape_extra[s[i + j]];
    }
    for (; i < n; i++) len += escape_extra[s[i]];
    return len;
}

/* `s` in quotes, as it is (escaped_len(s, n) == n: nothing to escape). */
static inline char *
write_plain(char *out, const unsigned char *s, Py_ssize_t n)
{
    *out++ = '"';
    memcpy(out, s, (size_t)n);
    out += n;
    *out++ = '"';
    return out;
}

static char *
write_escaped(char *out, const unsigned char *s, Py_ssize_t n)
{
    static const char hex[] = "0123456789abcdef";
    *out++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t run = i;
        while (i < n && !escape_extra[s[i]]) i++;
        if (i > run) {
            memcpy(out, s + run, (size_t)(i - run));
            out += i - run;
            if (i >= n) break;
        }
        unsigned char ch = s[i];
        *out++ = '\\';
        switch (ch) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\t': *out++ = 't'; break;
        case '\n': *out++ = 'n'; break;
        case '\f': *out++ = 'f'; break;
        case '\r': *out++ = 'r'; break;
        default:
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[ch >> 4];
            *out++ = hex[ch & 15];
        }
    }
    *out++ = '"';
    return out;
}

static int
decimal_len(long long v)
{
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = v < 0 ? 2 : 1;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

static char *
write_decimal(char *out, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    return out + n;
}

/* An int (or an int subclass such as an IntEnum member, which orjson and struct both
 * take by value; not a bool) that fits int64, else FALLBACK. */
static int
int64_of(PyObject *v, long long *out)
{
    if (!PyLong_Check(v) || PyBool_Check(v)) return FALLBACK;
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) return FALLBACK;
    if (*out == -1 && PyErr_Occurred()) return ERR;
    return OK;
}

/* UTF-8 of an exact str; FALLBACK for other types and lone surrogates. */
static int
utf8_of(PyObject *v, const unsigned char **data, Py_ssize_t *len)
{
    if (!PyUnicode_CheckExact(v)) return FALLBACK;
    if (PyUnicode_IS_ASCII(v)) {
        *data = PyUnicode_1BYTE_DATA(v);
        *len = PyUnicode_GET_LENGTH(v);
        return OK;
    }
    const char *text = PyUnicode_AsUTF8AndSize(v, len);
    if (text == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            return FALLBACK;
        }
        return ERR;
    }
    *data = (const unsigned char *)text;
    return OK;
}

typedef struct {
    const unsigned char *data;
    Py_ssize_t len;
    int plain; /* nothing to escape */
} Text;

#define KEY(literal) literal, (sizeof(literal) - 1)

static char *
put(char *out, const char *text, size_t n)
{
    memcpy(out, text, n);
    return out + n;
}

/* The extFields of a command to encode: its dict, or (from encode_response) a tuple of
 * alternating keys and values. Sets *count; 0, or -1 for anything else. */
static inline int
ext_count(PyObject *ext, int pairs, Py_ssize_t *count)
{
    if (pairs) {
        if (!PyTuple_CheckExact(ext) || PyTuple_GET_SIZE(ext) % 2) return -1;
        *count = PyTuple_GET_SIZE(ext) / 2;
        return 0;
    }
    if (!PyDict_CheckExact(ext)) return -1;
    *count = PyDict_GET_SIZE(ext);
    return 0;
}

/* PyDict_Next over extFields, or over its pairs tuple. */
static inline int
ext_next(PyObject *ext, int pairs, Py_ssize_t *pos, PyObject **key, PyObject **value)
{
    if (!pairs) return PyDict_Next(ext, pos, key, value);
    if (*pos + 1 >= PyTuple_GET_SIZE(ext)) return 0;
    *key = PyTuple_GET_ITEM(ext, *pos);
    *value = PyTuple_GET_ITEM(ext, *pos + 1);
    *pos += 2;
    return 1;
}

/* The frame of a JSON-header command, or NULL with FALLBACK/ERR in *status. `pairs`: its
 * extFields item is encode_response's tuple of keys and values, not a dict. */
static PyObject *
encode_json(PyObject *cmd, PyObject *opaque_override, int pairs, int *status)
{
    PyObject **items = ((PyTupleObject *)cmd)->ob_item;
    long long code, version, opaque, flag;
    Text language = {NULL, 0, 0}, remark = {NULL, 0, 0};
    Text stack[64];
    Text *texts = stack;
    PyObject *result = NULL;
    Py_buffer body = {0};
    int have_body = 0;
    *status = FALLBACK;
    if ((*status = int64_of(items[0], &code)) != OK) return NULL;
    if ((*status = int64_of(items[2], &version)) != OK) return NULL;
    if ((*status = int64_of(opaque_override != Py_None ? opaque_override : items[3], &opaque)) != OK)
        return NULL;
    if ((*status = int64_of(items[4], &flag)) != OK) return NULL;
    *status = FALLBACK;
    for (int i = 0; i < lang_count; i++) {
        if (lang_names[i].member == items[1]) {
            language.data = (const unsigned char *)lang_names[i].name;
            language.len = lang_names[i].len;
            break;
        }
    }
    if (language.data == NULL) return NULL;
    PyObject *remark_obj = items[5], *ext = items[6], *body_obj = items[7];
    Py_ssize_t size = 0; /* header bytes */
    if (remark_obj != Py_None) {
        if ((*status = utf8_of(remark_obj, &remark.data, &remark.len)) != OK) return NULL;
        size += 12 + escaped_len(remark.data, remark.len); /* ,"remark":"" */
    }
    Py_ssize_t count = 0;
    if (ext != Py_None) {
        if (ext_count(ext, pairs, &count) < 0) return NULL;
        if (count > 32) {
            texts = PyMem_Malloc(sizeof(Text) * 2 * (size_t)count);
            if (texts == NULL) {
                PyErr_NoMemory();
                *status = ERR;
                return NULL;
            }
        }
        /* No Python code runs from here to the last write (no GC-tracked allocation), so
         * the dict and its strings stay as they are. */
        Py_ssize_t pos = 0, i = 0;
        PyObject *key, *value;
        size += 15; /* ,"extFields":{} */
        while (ext_next(ext, pairs, &pos, &key, &value)) {
            if (i >= count) goto done; /* cannot happen: nothing changes the dict */
            if ((*status = utf8_of(key, &texts[2 * i].data, &texts[2 * i].len)) != OK) goto done;
            if ((*status = utf8_of(value, &texts[2 * i + 1].data, &texts[2 * i + 1].len)) != OK)
                goto done;
            Py_ssize_t key_len = escaped_len(texts[2 * i].data, texts[2 * i].len);
            Py_ssize_t value_len = escaped_len(texts[2 * i + 1].data, texts[2 * i + 1].len);
            texts[2 * i].plain = key_len == texts[2 * i].len;
            texts[2 * i + 1].plain = value_len == texts[2 * i + 1].len;
            size += key_len + value_len + 6; /* "":"", */
            i++;
        }
        *status = FALLBACK;
        if (i != count) goto done;
        if (count) size -= 1; /* no comma after the last entry */
    }
    /* {"code":,"flag":,"language":"","opaque":,"serializeTypeCurrentRPC":"JSON","version":} */
    size += 85 + decimal_len(code) + decimal_len(flag) + language.len + decimal_len(opaque) +
            decimal_len(version);
    if (size > MAX_HEADER_LEN) goto done; /* the reference raises the error */
    Py_ssize_t body_len = 0;
    if (PyBytes_CheckExact(body_obj)) {
        body_len = PyBytes_GET_SIZE(body_obj);
    } else if (PyByteArray_CheckExact(body_obj) || PyMemoryView_Check(body_obj)) {
        if (PyMemoryView_Check(body_obj)) {
            Py_buffer *mv = PyMemoryView_GET_BUFFER(body_obj);
            if (mv->itemsize != 1 || mv->ndim != 1 || !PyBuffer_IsContiguous(mv, 'C')) goto done;
        }
        if (PyObject_GetBuffer(body_obj, &body, PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            goto done;
        }
        have_body = 1;
        body_len = body.len;
    } else {
        goto done;
    }
    if (body_len > INT32_MAX - 4 - size) goto done;
    result = PyBytes_FromStringAndSize(NULL, 8 + size + body_len);
    if (result == NULL) {
        *status = ERR;
        goto done;
    }
    char *out = PyBytes_AS_STRING(result);
    uint32_t total = (uint32_t)(4 + size + body_len), info = (uint32_t)size; /* type 0 */
    unsigned char prefix[8] = {
        total >> 24, (total >> 16) & 255, (total >> 8) & 255, total & 255,
        info >> 24,  (info >> 16) & 255,  (info >> 8) & 255,  info & 255,
    };
    char *start;
    out = put(out, (const char *)prefix, 8);
    start = out;
    out = put(out, KEY("{\"code\":"));
    out = write_decimal(out, code);
    if (ext != Py_None) {
        out = put(out, KEY(",\"extFields\":{"));
        for (Py_ssize_t i = 0; i < count; i++) {
            if (i) *out++ = ',';
            const Text *key = &texts[2 * i], *value = &texts[2 * i + 1];
            out = key->plain ? write_plain(out, key->data, key->len)
                             : write_escaped(out, key->data, key->len);
            *out++ = ':';
            out = value->plain ? write_plain(out, value->data, value->len)
                               : write_escaped(out, value->data, value->len);
        }
        *out++ = '}';
    }
    out = put(out, KEY(",\"flag\":"));
    out = write_decimal(out, flag);
    out = put(out, KEY(",\"language\":\""));
    out = put(out, (const char *)language.data, (size_t)language.len);
    out = put(out, KEY("\",\"opaque\":"));
    out = write_decimal(out, opaque);
    if (remark_obj != Py_None) {
        out = put(out, KEY(",\"remark\":"));
        out = write_escaped(out, remark.data, remark.len);
    }
    out = put(out, KEY(",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":"));
    out = write_decimal(out, version);
    *out++ = '}';
    if (out - start != size) { /* a bug in the size computation: never hand out bad bytes */
        Py_CLEAR(result);
        PyErr_Format(PyExc_SystemError, "_wire.encode_command: header of %zd bytes, computed %zd",
                     (Py_ssize_t)(out - start), size);
        *status = ERR;
        goto done;
    }
    if (body_len) {
        memcpy(out, have_body ? body.buf : PyBytes_AS_STRING(body_obj), (size_t)body_len);
    }
    *status = OK;
done:
    if (have_body) PyBuffer_Release(&body);
    if (texts != stack) PyMem_Free(texts);
    return result;
}

static inline char *
put_be32(char *out, uint32_t v)
{
    out[0] = (char)(v >> 24);
    out[1] = (char)(v >> 16);
    out[2] = (char)(v >> 8);
    out[3] = (char)v;
    return out + 4;
}

/* Body bytes of a command: (data, len) of bytes, a bytearray or a 1-D byte memoryview,
 * else FALLBACK. Releases nothing: *view is filled (have_view set) for a buffer export. */
static int
body_of(PyObject *body_obj, Py_buffer *view, int *have_view, const char **data, Py_ssize_t *len)
{
    if (PyBytes_CheckExact(body_obj)) {
        *data = PyBytes_AS_STRING(body_obj);
        *len = PyBytes_GET_SIZE(body_obj);
        return OK;
    }
    if (!PyByteArray_CheckExact(body_obj) && !PyMemoryView_Check(body_obj)) return FALLBACK;
    if (PyMemoryView_Check(body_obj)) {
        Py_buffer *mv = PyMemoryView_GET_BUFFER(body_obj);
        if (mv->itemsize != 1 || mv->ndim != 1 || !PyBuffer_IsContiguous(mv, 'C')) return FALLBACK;
    }
    if (PyObject_GetBuffer(body_obj, view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        return FALLBACK;
    }
    *have_view = 1;
    *data = view->buf;
    *len = view->len;
    return OK;
}

/* The frame of a ROCKETMQ-header command, or NULL with FALLBACK/ERR in *status (`pairs`:
 * as encode_json's). */
static PyObject *
encode_binary(PyObject *cmd, PyObject *opaque_override, int pairs, int *status)
{
    PyObject **items = ((PyTupleObject *)cmd)->ob_item;
    long long code, version, opaque, flag;
    long language = LONG_MIN; /* not a LanguageCode member yet */
    Text remark = {NULL, 0};
    Text stack[64];
    Text *texts = stack;
    PyObject *result = NULL;
    Py_buffer body = {0};
    int have_body = 0;
    const char *body_data = NULL;
    Py_ssize_t body_len = 0;
    if ((*status = int64_of(items[0], &code)) != OK) return NULL;
    if ((*status = int64_of(items[2], &version)) != OK) return NULL;
    if ((*status = int64_of(opaque_override != Py_None ? opaque_override : items[3], &opaque)) != OK)
        return NULL;
    if ((*status = int64_of(items[4], &flag)) != OK) return NULL;
    *status = FALLBACK;
    /* the reference's struct.pack raises for these */
    if (code < INT16_MIN || code > INT16_MAX || version < INT16_MIN || version > INT16_MAX ||
        opaque < INT32_MIN || opaque > INT32_MAX || flag < INT32_MIN || flag > INT32_MAX) {
        return NULL;
    }
    for (int i = 0; i < lang_count; i++) {
        if (lang_names[i].member == items[1]) {
            language = PyLong_AsLong(items[1]);
            if (language == -1 && PyErr_Occurred()) {
                *status = ERR;
                return NULL;
            }
            break;
        }
    }
    if (language < -128 || language > 127) return NULL;
    PyObject *remark_obj = items[5], *ext = items[6];
    if (remark_obj != Py_None) {
        if ((*status = utf8_of(remark_obj, &remark.data, &remark.len)) != OK) return NULL;
        *status = FALLBACK;
    }
    Py_ssize_t size = BIN_FIXED_SIZE + remark.len + 4, count = 0;
    if (ext != Py_None) {
        if (ext_count(ext, pairs, &count) < 0) return NULL;
        if (count > 32) {
            texts = PyMem_Malloc(sizeof(Text) * 2 * (size_t)count);
            if (texts == NULL) {
                PyErr_NoMemory();
                *status = ERR;
                return NULL;
            }
        }
        /* No Python code runs from here to the last write: the dict stays as it is. */
        Py_ssize_t pos = 0, i = 0;
        PyObject *key, *value;
        while (ext_next(ext, pairs, &pos, &key, &value)) {
            if (i >= count) goto done;
            if ((*status = utf8_of(key, &texts[2 * i].data, &texts[2 * i].len)) != OK) goto done;
            if ((*status = utf8_of(value, &texts[2 * i + 1].data, &texts[2 * i + 1].len)) != OK)
                goto done;
            *status = FALLBACK;
            if (texts[2 * i].len > 0x7FFF || texts[2 * i + 1].len > INT32_MAX) goto done;
            size += 6 + texts[2 * i].len + texts[2 * i + 1].len;
            i++;
        }
        if (i != count) goto done;
    }
    if (size > MAX_HEADER_LEN) goto done;
    if ((*status = body_of(items[7], &body, &have_body, &body_data, &body_len)) != OK) goto done;
    *status = FALLBACK;
    if (body_len > INT32_MAX - 4 - size) goto done;
    result = PyBytes_FromStringAndSize(NULL, 8 + size + body_len);
    if (result == NULL) {
        *status = ERR;
        goto done;
    }
    char *out = PyBytes_AS_STRING(result);
    out = put_be32(out, (uint32_t)(4 + size + body_len));
    out = put_be32(out, (1u << 24) | (uint32_t)size);
    char *start = out;
    *out++ = (char)((uint16_t)code >> 8);
    *out++ = (char)code;
    *out++ = (char)language;
    *out++ = (char)((uint16_t)version >> 8);
    *out++ = (char)version;
    out = put_be32(out, (uint32_t)opaque);
    out = put_be32(out, (uint32_t)flag);
    out = put_be32(out, (uint32_t)remark.len);
    if (remark.len) out = put(out, (const char *)remark.data, (size_t)remark.len);
    out = put_be32(out, (uint32_t)(size - (out + 4 - start)));
    for (Py_ssize_t i = 0; i < count; i++) {
        *out++ = (char)(texts[2 * i].len >> 8);
        *out++ = (char)texts[2 * i].len;
        out = put(out, (const char *)texts[2 * i].data, (size_t)texts[2 * i].len);
        out = put_be32(out, (uint32_t)texts[2 * i + 1].len);
        out = put(out, (const char *)texts[2 * i + 1].data, (size_t)texts[2 * i + 1].len);
    }
    if (out - start != size) {
        Py_CLEAR(result);
        PyErr_Format(PyExc_SystemError, "_wire.encode_command: header of %zd bytes, computed %zd",
                     (Py_ssize_t)(out - start), size);
        *status = ERR;
        goto done;
    }
    if (body_len) memcpy(out, body_data, (size_t)body_len);
    *status = OK;
done:
    if (have_body) PyBuffer_Release(&body);
    if (texts != stack) PyMem_Free(texts);
    return result;
}

static PyObject *
wire_encode_command(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (py_encode_command == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "rmq_protocol._wire.init() was not called");
        return NULL;
    }
    PyObject *opaque = Py_None;
    if (nargs != 1) goto fallback;
    if (kwnames != NULL) {
        if (PyTuple_GET_SIZE(kwnames) != 1 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)) ||
            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "opaque") != 0) {
            goto fallback;
        }
        opaque = args[1];
    }
    PyObject *cmd = args[0];
    if (Py_TYPE(cmd) != command_type || PyTuple_GET_SIZE(cmd) != 9) goto fallback;
    int status;
    PyObject *frame, *kind = PyTuple_GET_ITEM(cmd, 8);
    if (kind == serialize_json) frame = encode_json(cmd, opaque, 0, &status);
    else if (kind == serialize_rocketmq) frame = encode_binary(cmd, opaque, 0, &status);
    else goto fallback;
    if (status == OK) return frame;
    if (status == ERR) return NULL;
fallback:
    return PyObject_Vectorcall(py_encode_command, args, (size_t)nargs, kwnames);
}

/* encode_response(request, code, language, pairs) -> bytes: command.encode_response in C.
 * The frame of the response to `request` (its opaque and serialize type) with `code`,
 * `language`, the current version, no remark, no body and the extFields `pairs` (keys
 * and values alternating, in order), as encode_command(response_with_ext(...)) writes
 * it: encoded from a plain tuple, without the command or the dict. Anything unusual (a
 * repeated key, a value that is no str, ...) goes to the reference, which gives the same
 * bytes or raises. */
static PyObject *
wire_encode_response(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (py_encode_response == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "rmq_protocol._wire.init() was not called");
        return NULL;
    }
    if (nargs != 4) goto fallback;
    PyObject *request = args[0], *pairs = args[3];
    if (Py_TYPE(request) != command_type || PyTuple_GET_SIZE(request) != 9 ||
        !PyTuple_CheckExact(pairs) || PyTuple_GET_SIZE(pairs) % 2 ||
        PyTuple_GET_SIZE(pairs) > 64) {
        goto fallback;
    }
    /* distinct keys (the reference's dict would keep one of each): identity first, as
     * the keys are usually the same constants */
    Py_ssize_t n = PyTuple_GET_SIZE(pairs);
    for (Py_ssize_t i = 0; i < n; i += 2) {
        PyObject *key = PyTuple_GET_ITEM(pairs, i);
        if (!PyUnicode_CheckExact(key)) goto fallback;
        for (Py_ssize_t j = 0; j < i; j += 2) {
            PyObject *other = PyTuple_GET_ITEM(pairs, j);
            if (other == key || (PyUnicode_GET_LENGTH(other) == PyUnicode_GET_LENGTH(key) &&
                                 PyUnicode_Compare(other, key) == 0)) {
                goto fallback;
            }
        }
    }
    PyObject *kind = PyTuple_GET_ITEM(request, 8);
    if (kind != serialize_json && kind != serialize_rocketmq) goto fallback;
    PyObject *fields = PyTuple_New(9);
    if (fields == NULL) return NULL;
    PyObject *values[9] = {args[1],       args[2], response_version, PyTuple_GET_ITEM(request, 3),
                           flag_response, Py_None, pairs,            empty_body,
                           kind};
    for (int k = 0; k < 9; k++) PyTuple_SET_ITEM(fields, k, Py_NewRef(values[k]));
    int status;
    PyObject *frame = kind == serialize_json ? encode_json(fields, Py_None, 1, &status)
                                             : encode_binary(fields, Py_None, 1, &status);
    Py_DECREF(fields);
    if (status == OK) return frame;
    if (status == ERR) return NULL;
fallback:
    return PyObject_Vectorcall(py_encode_response, args, (size_t)nargs, NULL);
}

/* ------------------------------------------------------------------ HeaderDecoder */

enum { KIND_STR = 0, KIND_INT = 1, KIND_BOOL = 2 };

typedef struct {
    PyObject *key; /* interned str */
    int kind;
    int required;
    PyObject *deflt; /* the value when absent (None when required) */
} FieldSpec;

/* A HeaderDecoder or a HeaderEncoder: one header class, its generated Python function
 * (the reference, called for anything unusual) and its fields in order. The two types
 * share this layout, the constructor and the GC hooks; they differ in their call and in
 * what a field's `required` means (the encoder's: "optional", omitted when None). */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *cls;
    PyObject *fallback; /* from_ext_fields(cls, ext_fields) / to_ext_fields(self) */
    Py_ssize_t count;
    FieldSpec *fields;
} FieldTable;

typedef FieldTable HeaderDecoder;
typedef FieldTable HeaderEncoder;

static int
table_traverse(FieldTable *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cls);
    Py_VISIT(self->fallback);
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Py_VISIT(self->fields[i].key);
        Py_VISIT(self->fields[i].deflt);
    }
    return 0;
}

static int
table_clear(FieldTable *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->fallback);
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Py_CLEAR(self->fields[i].key);
        Py_CLEAR(self->fields[i].deflt);
    }
    return 0;
}

static void
table_dealloc(FieldTable *self)
{
    PyObject_GC_UnTrack(self);
    table_clear(self);
    PyMem_Free(self->fields);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Java's Long.parseLong for the common case: ASCII [+-]?[0-9]{1,18}. */
static int
fast_long(PyObject *v, PyObject **out)
{
    if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_ASCII(v)) return FALLBACK;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    const unsigned char *s = PyUnicode_1BYTE_DATA(v);
    Py_ssize_t i = 0;
    int negative = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        i = 1;
    }
    if (n - i < 1 || n - i > 18) return FALLBACK;
    long long value = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return FALLBACK;
        value = value * 10 + (s[i] - '0');
    }
    *out = PyLong_FromLongLong(negative ? -value : value);
    return *out == NULL ? ERR : OK;
}

/* Python's v.lower() == 'true' for an ASCII str. */
static int
fast_bool(PyObject *v, PyObject **out)
{
    if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_ASCII(v)) return FALLBACK;
    const unsigned char *s = PyUnicode_1BYTE_DATA(v);
    int truth = PyUnicode_GET_LENGTH(v) == 4 && (s[0] | 0x20) == 't' && (s[1] | 0x20) == 'r' &&
                (s[2] | 0x20) == 'u' && (s[3] | 0x20) == 'e';
    *out = Py_NewRef(truth ? Py_True : Py_False);
    return OK;
}

static PyObject *
decoder_call(HeaderDecoder *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 2 || kwnames != NULL || args[0] != (PyObject *)self->cls) goto fallback;
    PyObject *ext = args[1];
    if (ext != Py_None && !PyDict_CheckExact(ext)) goto fallback;
    PyObject *stack[64], *found_stack[64];
    PyObject **values = stack, **found = found_stack;
    if (self->count > 64) {
        values = PyMem_Calloc((size_t)self->count * 2, sizeof(PyObject *));
        if (values == NULL) return PyErr_NoMemory();
        found = values + self->count;
    }
    /* The values of the keys that are the spec's own (interned) key objects, as the JSON
     * and binary decoders hand them out, in one pass over the dict (the keys usually come
     * in the spec's order): no hashing and probing per field. A field not found so is
     * looked up as before (an equal key that is another object, or an absent one). */
    Py_ssize_t i;
    for (i = 0; i < self->count; i++) found[i] = NULL;
    if (ext != Py_None) {
        Py_ssize_t pos = 0, next = 0;
        PyObject *key, *value;
        while (PyDict_Next(ext, &pos, &key, &value)) {
            for (Py_ssize_t tried = 0; tried < self->count; tried++) {
                Py_ssize_t j = next + tried < self->count ? next + tried : next + tried - self->count;
                if (self->fields[j].key == key) {
                    found[j] = value; /* borrowed: the dict is not changed below */
                    next = j + 1 < self->count ? j + 1 : 0;
                    break;
                }
            }
        }
    }
    for (i = 0; i < self->count; i++) {
        FieldSpec *spec = &self->fields[i];
        PyObject *v = found[i];
        if (v == NULL && ext != Py_None) v = PyDict_GetItemWithError(ext, spec->key);
        int status = OK;
        if (v == NULL || v == Py_None) { /* a None value counts as absent, as .get() */
            if (v == NULL && PyErr_Occurred()) {
                PyErr_Clear(); /* the reference raises it again, the same way */
                status = FALLBACK;
            } else if (spec->required) {
                status = FALLBACK; /* the reference raises the precise error */
            } else {
                values[i] = Py_NewRef(spec->deflt);
            }
        } else if (spec->kind == KIND_STR) {
            values[i] = Py_NewRef(v);
        } else if (spec->kind == KIND_INT) {
            status = fast_long(v, &values[i]);
        } else {
            status = fast_bool(v, &values[i]);
        }
        if (status != OK) {
            for (Py_ssize_t j = 0; j < i; j++) Py_DECREF(values[j]);
            if (values != stack) PyMem_Free(values);
            if (status == ERR) return NULL;
            goto fallback;
        }
    }
    PyObject *result = new_tuple_of(self->cls, values, self->count);
    if (values != stack) PyMem_Free(values);
    return result;
fallback:
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

/* HeaderDecoder(cls, fields, fallback) / HeaderEncoder(cls, fields, fallback): a field
 * of a decoder is (key, kind, required, default), of an encoder (key, kind, optional). */
static PyObject *
table_new(PyTypeObject *type, PyObject *args, PyObject *kwargs, vectorcallfunc call,
          int encoder)
{
    PyObject *cls, *specs, *fallback;
    static char *keywords[] = {"cls", "fields", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs,
                                     encoder ? "O!O!O:HeaderEncoder" : "O!O!O:HeaderDecoder",
                                     keywords, &PyType_Type, &cls, &PyTuple_Type, &specs,
                                     &fallback)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "cls must be a tuple subclass");
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(specs);
    FieldTable *self = (FieldTable *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->vectorcall = call;
    self->fields = PyMem_Calloc((size_t)(count ? count : 1), sizeof(FieldSpec));
    if (self->fields == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->cls = (PyTypeObject *)Py_NewRef(cls);
    self->fallback = Py_NewRef(fallback);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key, *deflt = Py_None;
        int kind, flag;
        PyObject *spec = PyTuple_GET_ITEM(specs, i);
        int parsed = PyTuple_Check(spec) &&
                     (encoder ? PyArg_ParseTuple(spec, "Uip:field", &key, &kind, &flag)
                              : PyArg_ParseTuple(spec, "UipO:field", &key, &kind, &flag, &deflt));
        if (!parsed) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError,
                                encoder ? "a field is (key, kind, optional)"
                                        : "a field is (key, kind, required, default)");
            }
            Py_DECREF(self);
            return NULL;
        }
        if (kind < KIND_STR || kind > KIND_BOOL) {
            PyErr_Format(PyExc_ValueError, "field kind %d is not 0 (str), 1 (int) or 2 (bool)",
                         kind);
            Py_DECREF(self);
            return NULL;
        }
        Py_INCREF(key);
        PyUnicode_InternInPlace(&key);
        self->fields[i].key = key;
        self->fields[i].kind = kind;
        self->fields[i].required = flag;
        self->fields[i].deflt = Py_NewRef(deflt);
        self->count = i + 1;
    }
    return (PyObject *)self;
}

static PyObject *
decoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return table_new(type, args, kwargs, (vectorcallfunc)decoder_call, 0);
}

static PyMemberDef decoder_members[] = {
    {"cls", T_OBJECT, offsetof(HeaderDecoder, cls), READONLY, "The header class."},
    {"fallback", T_OBJECT, offsetof(HeaderDecoder, fallback), READONLY,
     "The reference decoder, fallback(cls, ext_fields)."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject HeaderDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rmq_protocol._wire.HeaderDecoder",
    .tp_doc = "HeaderDecoder(cls, fields, fallback): from_ext_fields of one header class.\n\n"
              "fields: (key, kind 0 str / 1 int / 2 bool, required, default) per field, in\n"
              "order; fallback(cls, ext_fields) answers whatever is not the common case.",
    .tp_basicsize = sizeof(HeaderDecoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(HeaderDecoder, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = decoder_new,
    .tp_members = decoder_members,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_traverse = (traverseproc)table_traverse,
    .tp_clear = (inquiry)table_clear,
};

/* ------------------------------------------------------------------ HeaderEncoder */

/* The extFields string of one value, or NULL with FALLBACK/ERR in *status. */
static PyObject *
encode_value(PyObject *v, int kind, int *status)
{
    *status = OK;
    if (kind == KIND_STR) return Py_NewRef(v); /* the reference puts it as it is */
    if (kind == KIND_BOOL) {
        if (v == Py_True) return Py_NewRef(str_true);
        if (v == Py_False) return Py_NewRef(str_false);
    } else if (PyLong_CheckExact(v)) {
        PyObject *text = PyObject_Str(v);
        if (text == NULL) *status = ERR;
        return text;
    }
    *status = FALLBACK; /* truthiness or str() of another type: the reference decides */
    return NULL;
}

static PyObject *
encoder_call(HeaderEncoder *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1 || kwnames != NULL || Py_TYPE(args[0]) != self->cls ||
        PyTuple_GET_SIZE(args[0]) != self->count || str_true == NULL) {
        goto fallback;
    }
    PyObject *header = args[0];
    PyObject *d = _PyDict_NewPresized(self->count);
    if (d == NULL) return NULL;
    for (int pass = 0; pass < 2; pass++) { /* always-sent fields first, then optional */
        for (Py_ssize_t i = 0; i < self->count; i++) {
            FieldSpec *spec = &self->fields[i];
            if (spec->required != pass) continue;
            PyObject *v = PyTuple_GET_ITEM(header, i);
            if (pass == 1 && v == Py_None) continue;
            int status;
            PyObject *text = encode_value(v, spec->kind, &status);
            if (text == NULL) {
                Py_DECREF(d);
                if (status == ERR) return NULL;
                goto fallback;
            }
            int failed = PyDict_SetItem(d, spec->key, text);
            Py_DECREF(text);
            if (failed < 0) {
                Py_DECREF(d);
                return NULL;
            }
        }
    }
    return d;
fallback:
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static PyObject *
encoder_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static PyObject *
encoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return table_new(type, args, kwargs, (vectorcallfunc)encoder_call, 1);
}

static PyMemberDef encoder_members[] = {
    {"cls", T_OBJECT, offsetof(HeaderEncoder, cls), READONLY, "The header class."},
    {"fallback", T_OBJECT, offsetof(HeaderEncoder, fallback), READONLY,
     "The reference encoder, fallback(header)."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject HeaderEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rmq_protocol._wire.HeaderEncoder",
    .tp_doc = "HeaderEncoder(cls, fields, fallback): to_ext_fields of one header class.\n\n"
              "fields: (key, kind 0 str / 1 int / 2 bool, optional) per field, in order;\n"
              "fallback(header) answers whatever is not the common case. A method\n"
              "descriptor: header.to_ext_fields() calls it with the header.",
    .tp_basicsize = sizeof(HeaderEncoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_vectorcall_offset = offsetof(HeaderEncoder, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = encoder_new,
    .tp_members = encoder_members,
    .tp_descr_get = encoder_get,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_traverse = (traverseproc)table_traverse,
    .tp_clear = (inquiry)table_clear,
};

/* ------------------------------------------------------------------ module */

static PyMethodDef wire_methods[] = {
    {"init", (PyCFunction)(void (*)(void))wire_init, METH_VARARGS | METH_KEYWORDS,
     "Tell the module the codec's types and its reference decoder."},
    {"decode_command", wire_decode_command, METH_O,
     "rmq_protocol.codec.command.decode_command in C."},
    {"decode_frames", (PyCFunction)(void (*)(void))wire_decode_frames, METH_FASTCALL,
     "The commands of the complete frames of a stream: see FrameDecoder.next_commands."},
    {"encode_command", (PyCFunction)(void (*)(void))wire_encode_command,
     METH_FASTCALL | METH_KEYWORDS, "rmq_protocol.codec.command.encode_command in C."},
    {"encode_response", (PyCFunction)(void (*)(void))wire_encode_response, METH_FASTCALL,
     "rmq_protocol.codec.command.encode_response in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef wire_module = {
    PyModuleDef_HEAD_INIT, "rmq_protocol._wire",
    "Optional C versions of rmq_protocol.codec's per-request remoting codec.", -1,
    wire_methods,
};

PyMODINIT_FUNC
PyInit__wire(void)
{
    init_tables();
    if (PyType_Ready(&HeaderDecoderType) < 0 || PyType_Ready(&HeaderEncoderType) < 0) return NULL;
    PyObject *module = PyModule_Create(&wire_module);
    if (module == NULL) return NULL;
    if (PyModule_AddIntConstant(module, "ABI", WIRE_ABI) < 0 ||
        PyModule_AddObjectRef(module, "HeaderDecoder", (PyObject *)&HeaderDecoderType) < 0 ||
        PyModule_AddObjectRef(module, "HeaderEncoder", (PyObject *)&HeaderEncoderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
