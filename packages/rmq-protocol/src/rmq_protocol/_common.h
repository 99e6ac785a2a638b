/*
 * Helpers shared by rmq_protocol's C modules (_speedups.c, _records.c, _wire.c): reading
 * the slot offsets of the codec's slotted classes, and big-endian integers in byte
 * buffers (every remoting frame and record field is big-endian).
 */
#ifndef RMQ_COMMON_H
#define RMQ_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>

/* The offset of the object slot ``name`` of ``type`` (``descr`` when the class replaced
 * the slot's descriptor with its own: pass the original member descriptor). */
static int
rmq_slot_offset(PyTypeObject *type, PyObject *descr, const char *name, Py_ssize_t *out)
{
    if (descr == NULL) {
        descr = PyDict_GetItemString(type->tp_dict, name); /* borrowed */
    }
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    *out = member->offset;
    return 0;
}

/* The object in the slot at ``offset`` of ``obj`` (borrowed; NULL when unset). */
static inline PyObject *
slot(PyObject *obj, Py_ssize_t offset)
{
    return *(PyObject **)((char *)obj + offset);
}

static inline uint32_t
get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t
get64(const unsigned char *p)
{
    return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

static inline int16_t
get16s(const unsigned char *p)
{
    return (int16_t)(uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static inline void
put32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static inline void
put64(char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

#endif /* RMQ_COMMON_H */
