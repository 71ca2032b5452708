/* micrograd._cengine: the engine of micrograd/engine.py, in C.
 *
 * engine.py is the specification; this file is the same engine, fast. A node is
 * one object: its data, its grad, its children and their local derivatives
 * inline (up to two; more in one allocation of their own). Each op here does
 * the same float operations in the same order as its row of the op table, so
 * every data and grad is bit for bit what the reference computes. Whatever this
 * file has no C code for -- the other ops, create_graph, errors, pickling -- is
 * taken from the reference: a fast path that meets anything unusual (a NaN, an
 * overflow, a number of another type) calls the reference's own function, so
 * errors and edge cases are the reference's by construction.
 *
 * Garbage collection. Nodes are created untracked by the cyclic collector: a
 * node refers only to its children, which are older, so graphs alone cannot
 * form cycles and reference counting frees them. A node is tracked -- with all
 * it depends on, so that tracked nodes never refer to untracked ones -- as soon
 * as it may close a cycle: when it gets an attribute, a grad or a _backward
 * that the collector tracks (a closure, a list, a Value), when one of its
 * children is tracked, and when it is an instance of a Python subclass.
 *
 * No recursion over graph depth anywhere: the topological sort uses an explicit
 * stack, and freeing a long chain defers each dying child to a list that the
 * outermost free drains.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <structmember.h>

typedef struct Node {
    PyObject_HEAD
    /* What the backward pass reads, first: with the 16-byte header these fill one 64-byte cache line
     * (pymalloc places a 128-byte object on a 64-byte boundary). */
    double grad;          /* the gradient, unless grad_obj holds it */
    uint32_t n;           /* number of children */
    uint32_t nloc;        /* number of local derivatives (fewer than n only for a node made by hand), | MARK */
    union {
        struct { struct Node *kid[2]; double local[2]; } in; /* n <= 2 and nloc <= 2 */
        struct { struct Node **kid; double *local; } out;    /* one allocation: kids, then locals */
    } e;
    double data;
    PyObject *grad_obj;   /* the gradient when it is not a float: a Value (create_graph), an int set by hand */
    PyObject *fn;         /* the op of the table that made this node, or NULL */
    PyObject *attrs;      /* the op's constants (a tuple), or NULL for () */
    PyObject *dict;
    PyObject *weakrefs;
} Node;

#define MARK 0x80000000u /* set on a node while a topological sort has visited it */
#define NLOC(v) ((v)->nloc & ~MARK)
#define INLINE(v) ((v)->n <= 2 && NLOC(v) <= 2)
#define KIDS(v) (INLINE(v) ? (v)->e.in.kid : (v)->e.out.kid)
#define LOCALS(v) (INLINE(v) ? (v)->e.in.local : (v)->e.out.local)

/* Set by install(): the type, the op rows with C code here, and what is taken from the reference. */
static PyTypeObject *ValueType;
static PyObject *op_add, *op_mul, *op_pow, *op_exp, *op_log, *op_tanh, *op_relu, *op_sigmoid, *op_linear, *op_dot;
static PyObject *reference;      /* the reference Value class: its methods are the fallbacks */
static PyObject *py_constant;    /* engine._constant: a number (of any type) as a leaf, or the reference's error */
static PyObject *py_linear;      /* engine.linear, the reference */
static PyObject *py_chain_rule;  /* engine.chain_rule, the reference (for create_graph) */
static PyObject *py_to_float;    /* _checks.to_float */
static PyObject *py_grad_enabled;/* _gradmode.is_grad_enabled */
static PyObject *open_blocks;    /* _gradmode.open_blocks: [number of no_grad/enable_grad blocks open] */
static PyObject *partial, *native_chain_rule, *zero;
static PyObject *str_backward, *str_op, *str_display;

#define IS_NODE(o) PyObject_TypeCheck((o), ValueType)

/* The rows with C code, and whether each still holds the functions that code was written for. */
enum { ROW_ADD, ROW_MUL, ROW_POW, ROW_EXP, ROW_LOG, ROW_TANH, ROW_RELU, ROW_SIGMOID, ROW_LINEAR, ROW_DOT, NROWS };
static PyObject **rows[NROWS] = {&op_add, &op_mul, &op_pow, &op_exp, &op_log, &op_tanh, &op_relu, &op_sigmoid,
                                 &op_linear, &op_dot};
static PyObject *row_functions[NROWS][2]; /* forward and derivative, as install() found them */
static int row_native[NROWS];
static PyObject *row_edits, *edits_seen; /* ops.row_edits, and its count when row_native was set */
static PyObject *engine_ns;              /* engine.py's globals: chain_rule is looked up there */

/* Whether the C code for a row may run: the row was not changed since install (ops.row_edits). */
static int
native_row(int row)
{
    if (!PyList_CheckExact(row_edits) || PyList_GET_SIZE(row_edits) != 1)
        return 0; /* the counter was tampered with: trust no row */
    PyObject *edits = Py_NewRef(PyList_GET_ITEM(row_edits, 0));
    if (edits != edits_seen) {
        for (int i = 0; i < NROWS; i++) {
            PyObject *f = PyObject_GetAttrString(*rows[i], "forward");
            PyObject *d = f ? PyObject_GetAttrString(*rows[i], "derivative") : NULL;
            row_native[i] = f == row_functions[i][0] && d == row_functions[i][1];
            if (d == NULL)
                PyErr_Clear(); /* a row without its functions: no C code for it (the reference will say why) */
            Py_XDECREF(f);
            Py_XDECREF(d);
        }
        Py_XSETREF(edits_seen, Py_NewRef(edits));
    }
    Py_DECREF(edits);
    return row_native[row];
}

/* ------------------------------------------------------------------ */
/* A growable stack of borrowed pointers                               */
/* ------------------------------------------------------------------ */

typedef struct {
    void **items;
    Py_ssize_t size, cap;
} Stack;

/* push without setting an exception on failure: for the freeing code, which must leave alone
 * whatever exception is on its way up while objects are freed. */
static int
push_quietly(Stack *s, void *item)
{
    if (s->size == s->cap) {
        Py_ssize_t cap = s->cap ? 2 * s->cap : 64;
        void **items = PyMem_Realloc(s->items, cap * sizeof(void *));
        if (items == NULL)
            return -1;
        s->items = items;
        s->cap = cap;
    }
    s->items[s->size++] = item;
    return 0;
}

static int
push(Stack *s, void *item)
{
    if (push_quietly(s, item) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Garbage-collector policy (see the top of the file)                  */
/* ------------------------------------------------------------------ */

#define TRACKED(o) PyObject_GC_IsTracked((PyObject *)(o))

/* Track node and everything it depends on. Tracked nodes have tracked children,
 * so the walk stops at the first tracked node on each path. */
static int
track_down(Node *node)
{
    Stack stack = {0};
    int status = push(&stack, node);
    while (status == 0 && stack.size) {
        Node *v = stack.items[--stack.size];
        if (!TRACKED(v))
            PyObject_GC_Track((PyObject *)v);
        Node **kids = KIDS(v);
        for (uint32_t i = 0; i < v->n && status == 0; i++)
            if (!TRACKED(kids[i]))
                status = push(&stack, kids[i]);
    }
    PyMem_Free(stack.items);
    return status;
}

static int
visit_push(PyObject *o, void *stack)
{
    return (o != NULL && PyObject_IS_GC(o)) ? push(stack, o) : 0;
}

/* The objects a walk from item goes on to: a node's attributes and grad (its children are
 * tracked by track_down), whatever a container or an object holds (its own tp_traverse), and a
 * function's closure and defaults -- but not its globals, nor modules and classes, which would
 * lead everywhere and cannot be part of a graph's cycle through nodes built after them. */
static int
referents(PyObject *item, Stack *stack)
{
    if (IS_NODE(item)) {
        Node *v = (Node *)item;
        if (track_down(v) < 0)
            return -1;
        return visit_push(v->dict, stack) || visit_push(v->grad_obj, stack) || visit_push(v->attrs, stack);
    }
    if (PyFunction_Check(item))
        return visit_push(PyFunction_GET_CLOSURE(item), stack) || visit_push(PyFunction_GET_DEFAULTS(item), stack) ||
               visit_push(PyFunction_GET_KW_DEFAULTS(item), stack);
    if (PyModule_Check(item) || PyType_Check(item) || PyCode_Check(item) || !PyObject_IS_GC(item))
        return 0;
    traverseproc traverse = Py_TYPE(item)->tp_traverse;
    return traverse ? traverse(item, visit_push, stack) : 0;
}

/* Track every node that value reaches through containers, closures and bound methods:
 * value is being stored on a node, and may lead back to it. No Python code runs
 * during the walk, so the borrowed pointers on the stack stay valid. */
static int
track_reachable(PyObject *value)
{
    Stack stack = {0};
    PyObject *seen = PySet_New(NULL);
    int status = seen == NULL ? -1 : push(&stack, value);
    while (status == 0 && stack.size) {
        PyObject *item = stack.items[--stack.size];
        PyObject *key = PyLong_FromVoidPtr(item);
        int known = key == NULL ? -1 : PySet_Contains(seen, key);
        if (known == 0)
            status = PySet_Add(seen, key);
        Py_XDECREF(key);
        if (known < 0)
            status = -1;
        if (status == 0 && known == 0)
            status = referents(item, &stack);
    }
    PyMem_Free(stack.items);
    Py_XDECREF(seen);
    return status;
}

/* value was just stored on node: if it may lead back to node, let the collector see them both. */
static int
stored(Node *node, PyObject *value)
{
    if (value == NULL || !PyObject_IS_GC(value))
        return 0;
    if (!IS_NODE(value) && !TRACKED(value))
        return 0; /* e.g. a tuple of floats: the collector knows it holds no cycle */
    if (track_down(node) < 0)
        return -1;
    return track_reachable(value);
}

/* ------------------------------------------------------------------ */
/* Freeing: children that die with their parent are freed by a loop,  */
/* not by recursion, so a chain of any length is freed at once.        */
/* ------------------------------------------------------------------ */

static Stack doomed;
static int dealloc_depth; /* nested node_dealloc calls now running */
#define DIRECT_DEPTH 100  /* below this, a dying child is freed at once, by recursion of bounded depth */

/* Drop our reference to obj. A node that would die deep inside a chain of frees waits in `doomed`,
 * so that freeing a chain of any length (through children, grads or ops) needs no deep recursion. */
static void
release(PyObject *obj)
{
    if (obj != NULL && dealloc_depth >= DIRECT_DEPTH && Py_REFCNT(obj) == 1 && IS_NODE(obj) &&
        push_quietly(&doomed, obj) == 0)
        return; /* our reference moves to the list, which the outermost free drains */
    Py_XDECREF(obj); /* (or, with no memory for the list, freed now after all) */
}

/* Take v's children away, then let go of them: freeing one can run Python code (a __del__, a
 * collection) that looks at v, which must already be a node without children. */
static void
release_children(Node *v)
{
    uint32_t n = v->n;
    Node *pair[2] = {NULL, NULL}, **kids = pair;
    void *block = NULL;
    if (INLINE(v)) {
        pair[0] = v->e.in.kid[0];
        pair[1] = v->e.in.kid[1];
    }
    else
        kids = block = v->e.out.kid;
    v->n = 0;
    v->nloc &= MARK;
    for (uint32_t i = 0; i < n; i++)
        release((PyObject *)kids[i]);
    PyMem_Free(block);
}

static void
drain_doomed(void)
{
    static int draining;
    if (draining)
        return; /* a free inside the loop below: the loop goes on with what it deferred */
    draining = 1;
    while (doomed.size) {
        PyObject *next = doomed.items[--doomed.size];
        Py_DECREF(next); /* its dealloc frees or defers its own dying children */
    }
    draining = 0;
}

static int
node_clear(Node *v)
{
    PyObject *dict = v->dict, *grad = v->grad_obj, *fn = v->fn, *attrs = v->attrs;
    v->dict = v->grad_obj = v->fn = v->attrs = NULL; /* detached first, as the children are */
    release(dict);
    release(grad);
    release(fn);
    release(attrs);
    release_children(v);
    return 0;
}

static void
node_dealloc(Node *v)
{
    PyTypeObject *type = Py_TYPE(v);
    PyObject_GC_UnTrack(v);
    if (v->weakrefs != NULL)
        PyObject_ClearWeakRefs((PyObject *)v);
    dealloc_depth++;
    node_clear(v);
    type->tp_free(v);
    Py_DECREF(type); /* instances of a heap type hold a reference to it */
    if (--dealloc_depth == 0)
        drain_doomed();
}

static int
node_traverse(Node *v, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(v));
    Py_VISIT(v->dict);
    Py_VISIT(v->grad_obj);
    Py_VISIT(v->fn);
    Py_VISIT(v->attrs);
    Node **kids = KIDS(v);
    for (uint32_t i = 0; i < v->n; i++)
        Py_VISIT(kids[i]);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Making nodes                                                        */
/* ------------------------------------------------------------------ */

static Node *
alloc_node(PyTypeObject *type)
{
    Node *v;
    if (type == ValueType)
        v = PyObject_GC_New(Node, type); /* not tracked */
    else
        v = (Node *)type->tp_alloc(type, 0); /* a Python subclass: tracked */
    if (v == NULL)
        return NULL;
    v->data = v->grad = 0.0;
    v->grad_obj = v->fn = v->attrs = v->dict = v->weakrefs = NULL;
    v->n = v->nloc = 0;
    return v;
}

/* Give v (which has none) its children, new references taken, and its local derivatives. */
static int
set_children(Node *v, Py_ssize_t n, Node *const *kids, Py_ssize_t nloc, const double *local)
{
    if (n > 0x7fffffff || nloc > 0x7fffffff) {
        PyErr_SetString(PyExc_OverflowError, "Value: too many children");
        return -1;
    }
    Node **k = v->e.in.kid;
    double *l = v->e.in.local;
    if (n > 2 || nloc > 2) {
        Py_ssize_t slots = n > nloc ? n : nloc;
        void *block = PyMem_Malloc(slots * (sizeof(Node *) + sizeof(double)));
        if (block == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        k = v->e.out.kid = block;
        l = v->e.out.local = (double *)(k + slots);
    }
    int tracked = TRACKED(v);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(kids[i]);
        k[i] = kids[i];
        tracked |= TRACKED(kids[i]);
    }
    if (nloc > 0)
        memcpy(l, local, nloc * sizeof(double));
    v->n = (uint32_t)n;
    v->nloc = (uint32_t)nloc | (v->nloc & MARK);
    return tracked ? track_down(v) : 0;
}

/* A node made by an op: data, children, local derivatives, the op's row and its constants. */
static PyObject *
make_node(double data, Py_ssize_t n, Node *const *kids, const double *local, PyObject *fn, PyObject *attrs)
{
    Node *v = alloc_node(ValueType);
    if (v == NULL)
        return NULL;
    v->data = data;
    Py_XINCREF(fn);
    v->fn = fn;
    Py_XINCREF(attrs);
    v->attrs = attrs;
    if (set_children(v, n, kids, n, local) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return (PyObject *)v;
}

static PyObject *
leaf(double data)
{
    return make_node(data, 0, NULL, NULL, NULL, NULL);
}

/* Whether an op should build a node now: _gradmode.recording(), as engine.py's _apply asks it. */
static int
recording(void)
{
    if (PyList_CheckExact(open_blocks) && PyList_GET_SIZE(open_blocks) == 1 && PyList_GET_ITEM(open_blocks, 0) == zero)
        return 1;
    PyObject *enabled = PyObject_CallNoArgs(py_grad_enabled);
    if (enabled == NULL)
        return -1;
    int result = PyObject_IsTrue(enabled);
    Py_DECREF(enabled);
    return result;
}

/* A Value for an operand: the Value itself, or a number as a leaf (new reference). */
static Node *
as_value(PyObject *x)
{
    if (IS_NODE(x)) {
        Py_INCREF(x);
        return (Node *)x;
    }
    if (PyFloat_CheckExact(x))
        return (Node *)leaf(PyFloat_AS_DOUBLE(x));
    if (PyLong_CheckExact(x)) {
        double d = PyLong_AsDouble(x);
        if (!(d == -1.0 && PyErr_Occurred()))
            return (Node *)leaf(d);
        PyErr_Clear(); /* too large: the reference says so in its own words */
    }
    PyObject *made = PyObject_CallOneArg(py_constant, x);
    if (made != NULL && !IS_NODE(made)) {
        PyErr_Format(PyExc_TypeError, "engine._constant gave %.80s, not a Value", Py_TYPE(made)->tp_name);
        Py_CLEAR(made);
    }
    return (Node *)made;
}

/* The reference's method of this name, applied to args: what every fast path falls back on. */
static PyObject *
fallback(const char *name, PyObject *self, PyObject *other)
{
    PyObject *method = PyObject_GetAttrString(reference, name);
    if (method == NULL)
        return NULL;
    PyObject *result = other == NULL ? PyObject_CallOneArg(method, self)
                                     : PyObject_CallFunctionObjArgs(method, self, other, NULL);
    Py_DECREF(method);
    return result;
}

/* ------------------------------------------------------------------ */
/* The ops with C code: the same float operations as their rows        */
/* ------------------------------------------------------------------ */

/* The two ops that make up most of every graph, each as its row computes it:
 * a + b, d/da = 1, d/db = 1;  a * b, d/da = b, d/db = a. */
static PyObject *
binary(int row, Node *a, PyObject *other)
{
    if (!native_row(row))
        return fallback(row == ROW_ADD ? "__add__" : "__mul__", (PyObject *)a, other);
    Node *b = as_value(other);
    if (b == NULL)
        return NULL;
    int sum = row == ROW_ADD;
    double data = sum ? a->data + b->data : a->data * b->data;
    PyObject *out = NULL;
    int on = recording();
    if (on == 1) {
        Node *kids[2] = {a, b};
        double local[2] = {sum ? 1.0 : b->data, sum ? 1.0 : a->data};
        out = make_node(data, 2, kids, local, *rows[row], NULL);
    }
    else if (on == 0)
        out = leaf(data);
    Py_DECREF(b);
    return out;
}

static PyObject *
add(Node *a, PyObject *other)
{
    return binary(ROW_ADD, a, other);
}

static PyObject *
mul(Node *a, PyObject *other)
{
    return binary(ROW_MUL, a, other);
}

static PyObject *
neg(PyObject *x)
{
    if (!IS_NODE(x))
        return PyNumber_Negative(x);
    PyObject *minus_one = PyFloat_FromDouble(-1.0);
    PyObject *out = minus_one ? mul((Node *)x, minus_one) : NULL; /* self * -1, as the original */
    Py_XDECREF(minus_one);
    return out;
}

/* The C library's pow, called through a pointer the compiler cannot see through: GCC rewrites
 * pow(x, -1.0) as 1.0 / x, which is not always the library's (and so Python's) result, bit for bit. */
static double (*volatile libm_pow)(double, double) = pow;

/* x ** k on floats as Python's float pow computes it, for the cases it hands to the C library:
 * 0 when those are all there are, -1 (no exception set) for the rest, which the reference handles. */
static int
float_pow(double x, double k, double *out)
{
    if (!isfinite(x) || !isfinite(k) || x == 0.0)
        return -1;
    int negate = 0;
    if (x < 0.0) {
        if (k != floor(k))
            return -1;
        x = -x;
        negate = fmod(fabs(k), 2.0) == 1.0;
    }
    double r = (x == 1.0 || k == 0.0) ? 1.0 : libm_pow(x, k);
    if (!isfinite(r))
        return -1;
    *out = negate ? -r : r;
    return 0;
}

/* A few shared attrs tuples (k,) for x ** k: the same k is used over and over. */
static PyObject *
pow_attrs(double k)
{
    static PyObject *cache[8];
    static int next;
    for (int i = 0; i < 8; i++)
        if (cache[i] && memcmp(&PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(cache[i], 0)), &k, sizeof k) == 0) {
            Py_INCREF(cache[i]);
            return cache[i];
        }
    PyObject *attrs = Py_BuildValue("(d)", k);
    if (attrs == NULL)
        return NULL;
    Py_XDECREF(cache[next]);
    Py_INCREF(attrs);
    cache[next] = attrs;
    next = (next + 1) % 8;
    return attrs;
}

/* x ** k for a number k; d/dx = k x**(k-1). NULL with no exception: the reference must decide. */
static PyObject *
pow_number(Node *x, double k)
{
    double data, power = 0.0;
    if (!native_row(ROW_POW) || float_pow(x->data, k, &data) < 0)
        return NULL;
    int on = recording();
    if (on != 1)
        return on == 0 ? leaf(data) : NULL;
    if (k != 0.0 && float_pow(x->data, k - 1.0, &power) < 0)
        return NULL;
    double local = k == 0.0 ? 0.0 : k * power;
    if (!isfinite(local))
        return NULL;
    PyObject *attrs = pow_attrs(k);
    PyObject *out = attrs ? make_node(data, 1, &x, &local, op_pow, attrs) : NULL;
    Py_XDECREF(attrs);
    return out;
}

/* A number for a fast path: exact floats and ints only; anything else goes to the reference. */
static int
plain_number(PyObject *x, double *out)
{
    if (PyFloat_CheckExact(x)) {
        *out = PyFloat_AS_DOUBLE(x);
        return 1;
    }
    if (PyLong_CheckExact(x)) {
        *out = PyLong_AsDouble(x);
        if (*out == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        return 1;
    }
    return 0;
}

static PyObject *
fast_or_reference(PyObject *fast, const char *name, PyObject *self, PyObject *other)
{
    if (fast != NULL || PyErr_Occurred())
        return fast;
    return fallback(name, self, other);
}

static PyObject *
nb_power(PyObject *base, PyObject *exponent, PyObject *mod)
{
    if (!IS_NODE(base)) {
        if (mod != Py_None)
            Py_RETURN_NOTIMPLEMENTED; /* pow(2, x, 5): Python refuses it, as for the reference */
        return fallback("__rpow__", exponent, base);
    }
    double k;
    if (mod != Py_None || !plain_number(exponent, &k)) {
        if (mod != Py_None)
            return PyObject_CallMethod(reference, "__pow__", "OOO", base, exponent, mod);
        return fallback("__pow__", base, exponent);
    }
    return fast_or_reference(pow_number((Node *)base, k), "__pow__", base, exponent);
}

static PyObject *
nb_add(PyObject *a, PyObject *b)
{
    return IS_NODE(a) ? add((Node *)a, b) : add((Node *)b, a); /* other + self is self + other */
}

static PyObject *
nb_mul(PyObject *a, PyObject *b)
{
    return IS_NODE(a) ? mul((Node *)a, b) : mul((Node *)b, a);
}

static PyObject *
nb_negative(PyObject *x)
{
    return neg(x);
}

/* self - other = self + (-other); other - self = (-self) + other */
static PyObject *
nb_subtract(PyObject *a, PyObject *b)
{
    PyObject *minus = neg(b), *out = NULL;
    if (minus == NULL)
        return NULL;
    if (IS_NODE(a))
        out = add((Node *)a, minus);
    else
        out = add((Node *)minus, a);
    Py_DECREF(minus);
    return out;
}

/* 1 / divisor, as the reference's other**-1 computes it; NULL with no exception for the reference. */
static PyObject *
inverse(PyObject *divisor)
{
    double d, r;
    if (IS_NODE(divisor))
        return ((Node *)divisor)->data == 0.0 ? NULL : pow_number((Node *)divisor, -1.0);
    if (!plain_number(divisor, &d) || d == 0.0 || float_pow(d, -1.0, &r) < 0)
        return NULL;
    return PyFloat_FromDouble(r);
}

/* self / other = self * other**-1; other / self = self**-1 * other */
static PyObject *
nb_true_divide(PyObject *a, PyObject *b)
{
    int forward = IS_NODE(a);
    PyObject *inv = inverse(b), *out = NULL;
    if (inv == NULL)
        return PyErr_Occurred() ? NULL : fallback(forward ? "__truediv__" : "__rtruediv__", forward ? a : b,
                                                  forward ? b : a);
    out = forward ? mul((Node *)a, inv) : mul((Node *)inv, a);
    Py_DECREF(inv);
    return out;
}

/* One input: out = forward(x), local = derivative(x, out), as the row computes them on floats.
 * Anything but finite numbers (a NaN, an overflow, a domain error) goes to the reference. */
typedef int (*unary_rule)(double x, double *out, double *local);

static int
rule_exp(double x, double *out, double *local) /* d/dx e**x = e**x */
{
    *out = *local = exp(x);
    return isfinite(*out);
}

static int
rule_log(double x, double *out, double *local) /* d/dx log x = 1/x */
{
    if (!(x > 0.0))
        return 0;
    *out = log(x);
    *local = 1.0 / x;
    return isfinite(*local);
}

static int
rule_tanh(double x, double *out, double *local) /* d/dx tanh x = 1 - tanh(x)**2 */
{
    *out = tanh(x);
    *local = 1.0 - *out * *out;
    return 1;
}

static int
rule_relu(double x, double *out, double *local) /* d/dx relu x = 1 if x > 0 else 0 */
{
    *out = x < 0.0 ? 0.0 : x;
    *local = 1.0 - (*out <= 0.0);
    return 1;
}

static int
rule_sigmoid(double x, double *out, double *local) /* d/dx s(x) = s(x) (1 - s(x)) */
{
    if (x >= 0.0)
        *out = 1.0 / (1.0 + exp(-x));
    else {
        double e = exp(x);
        *out = e / (1.0 + e);
    }
    *local = *out * (1.0 - *out);
    return 1;
}

static PyObject *
unary(Node *self, unary_rule rule, int row, const char *name)
{
    double out, local;
    if (!native_row(row) || !isfinite(self->data) || !rule(self->data, &out, &local))
        return fallback(name, (PyObject *)self, NULL);
    int on = recording();
    if (on != 1)
        return on == 0 ? leaf(out) : NULL;
    return make_node(out, 1, &self, &local, *rows[row], NULL);
}

static PyObject *m_exp(Node *v, PyObject *u) { return unary(v, rule_exp, ROW_EXP, "exp"); }
static PyObject *m_log(Node *v, PyObject *u) { return unary(v, rule_log, ROW_LOG, "log"); }
static PyObject *m_tanh(Node *v, PyObject *u) { return unary(v, rule_tanh, ROW_TANH, "tanh"); }
static PyObject *m_relu(Node *v, PyObject *u) { return unary(v, rule_relu, ROW_RELU, "relu"); }
static PyObject *m_sigmoid(Node *v, PyObject *u) { return unary(v, rule_sigmoid, ROW_SIGMOID, "sigmoid"); }

/* linear(weights, inputs, bias): bias + w_1 x_1 + ... + w_n x_n, added left to right, as one node
 * with children (w..., x..., bias) and local derivatives (x..., w..., 1). */
static PyObject *
linear_fast(PyObject *weights, PyObject *inputs, PyObject *bias)
{
    Py_ssize_t n = PyTuple_GET_SIZE(weights), total = 2 * n + (bias != Py_None);
    Node **kids = PyMem_Malloc(total * sizeof(Node *) + 1);
    double *local = PyMem_Malloc(total * sizeof(double) + 1);
    PyObject *out = NULL;
    Py_ssize_t made = 0; /* inputs converted so far (each a new reference) */
    if (kids == NULL || local == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    double sum = bias == Py_None ? 0.0 : ((Node *)bias)->data;
    for (; made < n; made++) {
        Node *w = (Node *)PyTuple_GET_ITEM(weights, made), *x = as_value(PyTuple_GET_ITEM(inputs, made));
        if (x == NULL)
            goto done;
        kids[made] = w;
        kids[n + made] = x;
        local[made] = x->data;
        local[n + made] = w->data;
        sum = sum + w->data * x->data;
    }
    if (bias != Py_None) {
        kids[2 * n] = (Node *)bias;
        local[2 * n] = 1.0;
    }
    int on = recording();
    if (on == 1)
        out = make_node(sum, total, kids, local, bias == Py_None ? op_dot : op_linear, NULL);
    else if (on == 0)
        out = leaf(sum);
done:
    for (Py_ssize_t i = 0; i < made; i++)
        Py_DECREF(kids[n + i]);
    PyMem_Free(kids);
    PyMem_Free(local);
    return out;
}

static PyObject *
linear(PyObject *module, PyObject *args)
{
    PyObject *weights, *inputs, *bias;
    if (!PyArg_UnpackTuple(args, "linear", 3, 3, &weights, &inputs, &bias))
        return NULL;
    if (!PyList_CheckExact(weights) || !PyList_CheckExact(inputs) || !native_row(bias == Py_None ? ROW_DOT : ROW_LINEAR))
        return PyObject_CallFunctionObjArgs(py_linear, weights, inputs, bias, NULL);
    /* Tuples of the lists as they are now: converting an input can run Python code that changes them. */
    PyObject *w = PyList_AsTuple(weights), *x = w ? PyList_AsTuple(inputs) : NULL, *out = NULL;
    int fast = x && PyTuple_GET_SIZE(w) == PyTuple_GET_SIZE(x) && (bias == Py_None || IS_NODE(bias));
    for (Py_ssize_t i = 0; fast && i < PyTuple_GET_SIZE(w); i++)
        fast = IS_NODE(PyTuple_GET_ITEM(w, i));
    if (fast)
        out = linear_fast(w, x, bias);
    else if (x != NULL) /* every error as the reference words it */
        out = PyObject_CallFunctionObjArgs(py_linear, weights, inputs, bias, NULL);
    Py_XDECREF(w);
    Py_XDECREF(x);
    return out;
}

/* ------------------------------------------------------------------ */
/* The graph: a topological order, and the chain rule                  */
/* ------------------------------------------------------------------ */

/* Every node the roots depend on, children before parents (engine.topological_order):
 * depth first with an explicit stack; a pointer with its low bit set means "children done".
 * A node carries MARK from its first visit until the end, where every mark is taken off again:
 * each marked node is then in the order or on the stack (under "children done"). No Python code
 * runs during the walk, so the borrowed pointers on the stack stay valid. Fills order with new
 * references. */
static int
topo(Node *const *roots, Py_ssize_t nroots, Stack *order)
{
    Stack stack = {0};
    int status = 0;
    for (Py_ssize_t i = nroots - 1; i >= 0 && status == 0; i--)
        status = push(&stack, roots[i]);
    while (status == 0 && stack.size) {
        uintptr_t item = (uintptr_t)stack.items[--stack.size];
        Node *v = (Node *)(item & ~(uintptr_t)1);
        if (item & 1) {
            if ((status = push(order, v)) == 0)
                Py_INCREF(v);
            else
                v->nloc &= ~MARK; /* in neither place: unmark it here */
            continue;
        }
        if (v->nloc & MARK)
            continue;
        v->nloc |= MARK;
        if ((status = push(&stack, (void *)(item | 1))) < 0) {
            v->nloc &= ~MARK;
            break;
        }
        Node **kids = KIDS(v);
        for (uint32_t i = v->n; i > 0 && status == 0; i--)
            if (!(kids[i - 1]->nloc & MARK))
                status = push(&stack, kids[i - 1]);
    }
    for (Py_ssize_t i = 0; i < order->size; i++)
        ((Node *)order->items[i])->nloc &= ~MARK;
    for (Py_ssize_t i = 0; i < stack.size; i++)
        ((Node *)((uintptr_t)stack.items[i] & ~(uintptr_t)1))->nloc &= ~MARK;
    PyMem_Free(stack.items);
    return status;
}

static void
release_order(Stack *order)
{
    for (Py_ssize_t i = 0; i < order->size; i++)
        Py_DECREF((PyObject *)order->items[i]);
    PyMem_Free(order->items);
}

/* The _backward a user set on this node (a new reference), or NULL: with an exception set if the
 * lookup failed. The dict is held while it is searched: a key's __eq__ may replace it. */
static PyObject *
custom_step(Node *v)
{
    if (v->dict == NULL)
        return NULL;
    PyObject *dict = Py_NewRef(v->dict);
    PyObject *step = PyDict_GetItemWithError(dict, str_backward);
    Py_XINCREF(step);
    Py_DECREF(dict);
    if (step == Py_None) /* as the reference's _backward property: None is no step of its own */
        Py_CLEAR(step);
    return step;
}

/* child.grad += local * g, where a grad is not a float: as Python does it on objects. */
static int
add_to_grad_object(Node *child, double local, PyObject *g)
{
    /* In Python's order for child.grad += local * g: child.grad is read first. */
    PyObject *before = child->grad_obj ? Py_NewRef(child->grad_obj) : PyFloat_FromDouble(child->grad);
    PyObject *factor = PyFloat_FromDouble(local);
    PyObject *term = factor ? PyNumber_Multiply(factor, g) : NULL;
    PyObject *after = term && before ? PyNumber_InPlaceAdd(before, term) : NULL;
    int status = after ? PyObject_SetAttrString((PyObject *)child, "grad", after) : -1;
    Py_XDECREF(factor);
    Py_XDECREF(term);
    Py_XDECREF(before);
    Py_XDECREF(after);
    return status;
}

/* One node's step of the chain rule (engine.chain_rule's loop body, without create_graph). */
static int
step(Node *v)
{
    PyObject *custom = custom_step(v);
    if (custom != NULL) {
        PyObject *r = PyObject_CallNoArgs(custom);
        Py_DECREF(custom);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    if (PyErr_Occurred())
        return -1;
    for (uint32_t i = 0; i < v->n && i < NLOC(v); i++) {
        Node *child = KIDS(v)[i];
        double local = LOCALS(v)[i];
        if (child->grad_obj != NULL && PyLong_CheckExact(child->grad_obj)) { /* p.grad = 0: int + float */
            double d = PyLong_AsDouble(child->grad_obj);
            if (d == -1.0 && PyErr_Occurred())
                PyErr_Clear(); /* too large for a float: Python raises it below, in its words */
            else {
                child->grad = d;
                Py_CLEAR(child->grad_obj);
            }
        }
        if (v->grad_obj == NULL && child->grad_obj == NULL)
            child->grad += local * v->grad;
        else {
            PyObject *g = v->grad_obj ? v->grad_obj : PyFloat_FromDouble(v->grad);
            if (v->grad_obj)
                Py_INCREF(g);
            Py_INCREF(child); /* the Python code this may run cannot free it under us */
            int status = g ? add_to_grad_object(child, local, g) : -1;
            Py_DECREF(child);
            Py_XDECREF(g);
            if (status < 0)
                return -1;
        }
    }
    return 0;
}

static int
chain_rule_over(Stack *order)
{
    for (Py_ssize_t i = order->size - 1; i >= 0; i--)
        if (step(order->items[i]) < 0)
            return -1;
    return 0;
}

static PyObject *
topological_order(PyObject *module, PyObject *roots)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(roots); i++)
        if (!IS_NODE(PyTuple_GET_ITEM(roots, i)))
            return PyErr_Format(PyExc_TypeError, "topological_order: roots must be Values, got %.80s",
                                Py_TYPE(PyTuple_GET_ITEM(roots, i))->tp_name);
    Stack order = {0};
    PyObject *list = NULL;
    if (topo((Node *const *)&PyTuple_GET_ITEM(roots, 0), PyTuple_GET_SIZE(roots), &order) == 0 &&
        (list = PyList_New(order.size)) != NULL)
        for (Py_ssize_t i = 0; i < order.size; i++) {
            PyList_SET_ITEM(list, i, order.items[i]);
            Py_INCREF(order.items[i]);
        }
    release_order(&order);
    return list;
}

static PyObject *
chain_rule(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"order", "create_graph", NULL};
    PyObject *order_list, *create_graph = Py_False;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:chain_rule", names, &order_list, &create_graph))
        return NULL;
    int graph = PyObject_IsTrue(create_graph);
    if (graph != 0)
        return graph < 0 ? NULL : PyObject_Call(py_chain_rule, args, kwargs);
    PyObject *items = PySequence_Fast(order_list, "chain_rule: order must be a list of Values");
    if (items == NULL)
        return NULL;
    Stack order = {0};
    int status = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(items) && status == 0; i++) {
        PyObject *v = PySequence_Fast_GET_ITEM(items, i);
        if (!IS_NODE(v)) {
            PyErr_Format(PyExc_TypeError, "chain_rule: order must hold Values, got %.80s", Py_TYPE(v)->tp_name);
            status = -1;
        }
        else if ((status = push(&order, v)) == 0)
            Py_INCREF(v);
    }
    Py_DECREF(items);
    if (status == 0)
        status = chain_rule_over(&order);
    release_order(&order);
    return status < 0 ? NULL : Py_NewRef(Py_None);
}

/* Nodes with children (or a _backward of their own) hold the gradient of this pass only. The order
 * holds every node, so the Python code that freeing an old gradient may run cannot free one. */
static int
zero_grads(Stack *order)
{
    for (Py_ssize_t i = 0; i < order->size; i++) {
        Node *v = order->items[i];
        PyObject *custom = v->n > 0 ? NULL : custom_step(v);
        if (custom == NULL && PyErr_Occurred())
            return -1;
        if (v->n > 0 || custom != NULL) {
            v->grad = 0.0;
            Py_CLEAR(v->grad_obj);
        }
        Py_XDECREF(custom);
    }
    return 0;
}

/* backward(create_graph=False): engine.Value.backward, seed and all. */
static PyObject *
m_backward(Node *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"create_graph", NULL};
    PyObject *create_graph = Py_False;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:backward", names, &create_graph))
        return NULL;
    int graph = PyObject_IsTrue(create_graph);
    PyObject *walk = PyDict_GetItemString(engine_ns, "chain_rule"); /* patched, e.g. by a test watching it */
    if (graph != 0 || (walk != NULL && walk != native_chain_rule))
        return graph < 0 ? NULL : fallback("backward", (PyObject *)self, create_graph);
    Stack order = {0};
    int status = topo(&self, 1, &order);
    if (status == 0)
        status = zero_grads(&order);
    if (status == 0 && self->n > 0)
        self->grad = 1.0;
    else if (status == 0 && self->grad_obj == NULL)
        self->grad = self->grad + 1.0;
    else if (status == 0) {
        PyObject *before = Py_NewRef(self->grad_obj), *one = PyFloat_FromDouble(1.0);
        PyObject *seed = one ? PyNumber_Add(before, one) : NULL;
        status = seed ? PyObject_SetAttrString((PyObject *)self, "grad", seed) : -1;
        Py_DECREF(before);
        Py_XDECREF(one);
        Py_XDECREF(seed);
    }
    if (status == 0)
        status = chain_rule_over(&order);
    release_order(&order);
    return status < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
m_backward_set_by_hand(Node *self, PyObject *unused)
{
    PyObject *custom = custom_step(self);
    if (custom == NULL && PyErr_Occurred())
        return NULL;
    Py_XDECREF(custom);
    return PyBool_FromLong(custom != NULL);
}

/* ------------------------------------------------------------------ */
/* Attributes: the names engine.Value has                              */
/* ------------------------------------------------------------------ */

static PyObject *
get_grad(Node *v, void *c)
{
    return v->grad_obj ? Py_NewRef(v->grad_obj) : PyFloat_FromDouble(v->grad);
}

static int
set_grad(Node *v, PyObject *value, void *c)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete grad");
        return -1;
    }
    if (PyFloat_CheckExact(value)) {
        v->grad = PyFloat_AS_DOUBLE(value);
        Py_CLEAR(v->grad_obj);
    }
    else
        Py_XSETREF(v->grad_obj, Py_NewRef(value));
    return 0;
}

static PyObject *
get_prev(Node *v, void *c)
{
    for (;;) {
        uint32_t n = v->n;
        PyObject *t = PyTuple_New(n);
        if (t == NULL || v->n == n) { /* else the allocation ran code that changed v: again */
            for (uint32_t i = 0; t && i < n; i++)
                PyTuple_SET_ITEM(t, i, Py_NewRef(KIDS(v)[i]));
            return t;
        }
        Py_DECREF(t);
    }
}

static PyObject *
get_local_grads(Node *v, void *c)
{
    for (;;) {
        uint32_t n = NLOC(v);
        PyObject *t = PyTuple_New(n);
        if (t == NULL || NLOC(v) == n) { /* else the allocation ran code that changed v: again */
            for (uint32_t i = 0; t && i < n; i++) { /* floats: no collection, so v stays as it is */
                PyObject *x = PyFloat_FromDouble(LOCALS(v)[i]);
                if (x == NULL)
                    Py_CLEAR(t);
                else
                    PyTuple_SET_ITEM(t, i, x);
            }
            return t;
        }
        Py_DECREF(t);
    }
}

/* Replace v's children and local derivatives (either may be the ones it has). */
static int
replace_children(Node *v, PyObject *kids_seq, PyObject *local_seq)
{
    PyObject *kids = kids_seq ? PySequence_Tuple(kids_seq) : get_prev(v, NULL);
    PyObject *locs = local_seq ? PySequence_Tuple(local_seq) : get_local_grads(v, NULL);
    double *local = NULL;
    int status = -1;
    if (kids == NULL || locs == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kids); i++)
        if (!IS_NODE(PyTuple_GET_ITEM(kids, i))) {
            PyErr_Format(PyExc_TypeError, "Value: children must be Values, got %.80s",
                         Py_TYPE(PyTuple_GET_ITEM(kids, i))->tp_name);
            goto done;
        }
    local = PyMem_Malloc(PyTuple_GET_SIZE(locs) * sizeof(double) + 1);
    if (local == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(locs); i++) {
        PyObject *f = PyNumber_Float(PyTuple_GET_ITEM(locs, i)); /* float(x), as the reference */
        if (f == NULL)
            goto done;
        local[i] = PyFloat_AS_DOUBLE(f);
        Py_DECREF(f);
    }
    release_children(v); /* kids holds them meanwhile */
    status = set_children(v, PyTuple_GET_SIZE(kids), (Node *const *)&PyTuple_GET_ITEM(kids, 0),
                          PyTuple_GET_SIZE(locs), local);
done:
    PyMem_Free(local);
    Py_XDECREF(kids);
    Py_XDECREF(locs);
    return status;
}

static int
set_prev(Node *v, PyObject *value, void *c)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _prev");
        return -1;
    }
    return replace_children(v, value, NULL);
}

static int
set_local_grads(Node *v, PyObject *value, void *c)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _local_grads");
        return -1;
    }
    return replace_children(v, NULL, value);
}

static PyObject *
get_fn(Node *v, void *c)
{
    return Py_NewRef(v->fn ? v->fn : Py_None);
}

static int
set_fn(Node *v, PyObject *value, void *c)
{
    Py_XSETREF(v->fn, value == NULL || value == Py_None ? NULL : Py_NewRef(value));
    return 0;
}

static PyObject *
get_attrs(Node *v, void *c)
{
    return v->attrs ? Py_NewRef(v->attrs) : PyTuple_New(0);
}

static int
set_attrs(Node *v, PyObject *value, void *c)
{
    PyObject *t = value == NULL ? NULL : PySequence_Tuple(value);
    if (value != NULL && t == NULL)
        return -1;
    Py_XSETREF(v->attrs, t != NULL && PyTuple_GET_SIZE(t) == 0 ? NULL : t);
    if (t != NULL && v->attrs == NULL)
        Py_DECREF(t);
    return 0;
}

static PyObject *
get_op(Node *v, void *c)
{
    if (v->fn != NULL) {
        PyObject *attrs = get_attrs(v, NULL);
        PyObject *text = attrs ? PyObject_CallMethodOneArg(v->fn, str_display, attrs) : NULL;
        Py_XDECREF(attrs);
        return text;
    }
    PyObject *text = v->dict ? PyDict_GetItemWithError(v->dict, str_op) : NULL;
    if (text == NULL)
        return PyErr_Occurred() ? NULL : PyUnicode_FromString("");
    return PyObject_Str(text);
}

/* Set or delete key in v's dict, made if v has none yet, as attribute `name` (AttributeError when
 * deleting what is not there). The dict is held meanwhile: a key's __eq__ may replace it. */
static int
dict_item(Node *v, PyObject *key, PyObject *value, const char *name)
{
    if (v->dict == NULL && (v->dict = PyDict_New()) == NULL)
        return -1;
    PyObject *dict = Py_NewRef(v->dict);
    int status = value ? PyDict_SetItem(dict, key, value) : PyDict_DelItem(dict, key);
    Py_DECREF(dict);
    if (status < 0 && value == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_AttributeError, "'Value' object has no attribute '%s'", name);
    }
    return status;
}

static int
set_op(Node *v, PyObject *value, void *c)
{
    return dict_item(v, str_op, value, "_op");
}

static PyObject *
get_backward(Node *v, void *c)
{
    PyObject *custom = custom_step(v);
    if (custom != NULL || PyErr_Occurred())
        return custom;
    PyObject *walk = PyDict_GetItemString(engine_ns, "chain_rule"); /* looked up now: it may be patched */
    return PyObject_CallFunction(partial, "O[O]", walk ? walk : native_chain_rule, (PyObject *)v);
}

static int
set_backward(Node *v, PyObject *value, void *c)
{
    if (value != NULL && !PyCallable_Check(value)) {
        PyErr_Format(PyExc_TypeError, "_backward must be a function of no arguments, got %.80s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    return dict_item(v, str_backward, value, "_backward");
}

static PyGetSetDef node_getset[] = {
    {"grad", (getter)get_grad, (setter)set_grad, "d output / d this node: a float (a Value with create_graph)"},
    {"_prev", (getter)get_prev, (setter)set_prev, "the children, in order"},
    {"_children", (getter)get_prev, (setter)set_prev, "the children, in order"},
    {"_local_grads", (getter)get_local_grads, (setter)set_local_grads, "d self / d child, for each child"},
    {"_fn", (getter)get_fn, (setter)set_fn, "the op of the table that made this node, or None"},
    {"_attrs", (getter)get_attrs, (setter)set_attrs, "the op's constants, e.g. the k of x ** k"},
    {"_op", (getter)get_op, (setter)set_op, "the op's label: '+', '*', '**2' ... ('' for a leaf)"},
    {"_backward", (getter)get_backward, (setter)set_backward, "this node's chain-rule step"},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL},
    {NULL},
};

static PyMemberDef node_members[] = {
    {"data", T_DOUBLE, offsetof(Node, data), 0, "the value"},
    {"__dictoffset__", T_PYSSIZET, offsetof(Node, dict), READONLY},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Node, weakrefs), READONLY},
    {NULL},
};

/* Setting any attribute: a value the collector tracks may lead back to this node. */
static int
node_setattro(PyObject *self, PyObject *name, PyObject *value)
{
    if (PyObject_GenericSetAttr(self, name, value) < 0)
        return -1;
    return stored((Node *)self, value);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

static PyObject *
node_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return (PyObject *)alloc_node(type);
}

/* Value(data, _children=(), _op='', label='', _local_grads=()) */
static int
node_init(Node *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"data", "_children", "_op", "label", "_local_grads", NULL};
    PyObject *data, *kids = NULL, *op = NULL, *label = NULL, *local = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOO:Value", names, &data, &kids, &op, &label, &local))
        return -1;
    PyObject *number = PyFloat_CheckExact(data) ? Py_NewRef(data) : PyObject_CallOneArg(py_to_float, data);
    if (number == NULL)
        return -1;
    self->data = PyFloat_AsDouble(number);
    Py_DECREF(number);
    if (PyErr_Occurred())
        return -1;
    self->grad = 0.0;
    Py_CLEAR(self->grad_obj);
    PyObject *none = PyTuple_New(0);
    int status = none ? replace_children(self, kids ? kids : none, local ? local : none) : -1;
    Py_XDECREF(none);
    Py_CLEAR(self->fn);
    Py_CLEAR(self->attrs);
    int given = status == 0 && op != NULL ? PyObject_IsTrue(op) : 0;
    if (given != 0)
        status = given < 0 ? -1 : PyObject_SetAttrString((PyObject *)self, "_op", op);
    given = status == 0 && label != NULL ? PyObject_IsTrue(label) : 0;
    if (given != 0)
        status = given < 0 ? -1 : PyObject_SetAttrString((PyObject *)self, "label", label);
    return status;
}

/* Value._make(data, children, local_grads, fn=None, attrs=()): a node from its parts. */
static PyObject *
m_make(PyObject *cls, PyObject *args)
{
    PyObject *data, *kids, *local, *fn = Py_None, *attrs = NULL;
    if (!PyArg_ParseTuple(args, "OOO|OO:_make", &data, &kids, &local, &fn, &attrs))
        return NULL;
    Node *v = alloc_node((PyTypeObject *)cls);
    if (v == NULL)
        return NULL;
    v->data = PyFloat_AsDouble(data);
    if ((v->data == -1.0 && PyErr_Occurred()) || replace_children(v, kids, local) < 0 ||
        set_fn(v, fn, NULL) < 0 || (attrs && set_attrs(v, attrs, NULL) < 0)) {
        Py_DECREF(v);
        return NULL;
    }
    return (PyObject *)v;
}

static PyMethodDef node_methods[] = {
    {"exp", (PyCFunction)m_exp, METH_NOARGS, "e ** x"},
    {"log", (PyCFunction)m_log, METH_NOARGS, "the natural logarithm"},
    {"tanh", (PyCFunction)m_tanh, METH_NOARGS, "the hyperbolic tangent"},
    {"relu", (PyCFunction)m_relu, METH_NOARGS, "max(0, x)"},
    {"sigmoid", (PyCFunction)m_sigmoid, METH_NOARGS, "1 / (1 + e ** -x)"},
    {"backward", (PyCFunction)(void (*)(void))m_backward, METH_VARARGS | METH_KEYWORDS,
     "backward(create_graph=False): the chain rule from this node to every node it depends on"},
    {"_backward_set_by_hand", (PyCFunction)m_backward_set_by_hand, METH_NOARGS, NULL},
    {"_make", (PyCFunction)m_make, METH_VARARGS | METH_CLASS, "a node from its parts"},
    {NULL},
};

static PyType_Slot node_slots[] = {
    {Py_tp_dealloc, node_dealloc},
    {Py_tp_traverse, node_traverse},
    {Py_tp_clear, node_clear},
    {Py_tp_new, node_new},
    {Py_tp_init, node_init},
    {Py_tp_setattro, node_setattro},
    {Py_tp_methods, node_methods},
    {Py_tp_members, node_members},
    {Py_tp_getset, node_getset},
    {Py_nb_add, nb_add},
    {Py_nb_subtract, nb_subtract},
    {Py_nb_multiply, nb_mul},
    {Py_nb_true_divide, nb_true_divide},
    {Py_nb_power, nb_power},
    {Py_nb_negative, nb_negative},
    {0, NULL},
};

static PyType_Spec node_spec = {
    .name = "micrograd.engine.Value",
    .basicsize = sizeof(Node),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = node_slots,
};

/* ------------------------------------------------------------------ */
/* install(reference_value_class, engine_namespace)                    */
/* ------------------------------------------------------------------ */

static int
take(PyObject **slot, PyObject *from, const char *name)
{
    PyObject *x = PyDict_Check(from) ? PyDict_GetItemString(from, name) : NULL;
    x = x ? Py_NewRef(x) : PyObject_GetAttrString(from, name);
    if (x == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ImportError, "_cengine.install: the engine has no %s", name);
        return -1;
    }
    Py_XSETREF(*slot, x);
    return 0;
}

/* The reference's methods this type has no C code for become its own, so both engines share them. */
static int
adopt_methods(PyObject *ref)
{
    PyObject *name, *value, *items = PyDict_Copy(((PyTypeObject *)ref)->tp_dict);
    Py_ssize_t pos = 0;
    int status = items ? 0 : -1;
    static const char *skip[] = {"__dict__", "__weakref__", "__slots__", "__module__", "__qualname__",
                                 "__init__", "__annotations__", "__doc__", NULL};
    while (status == 0 && PyDict_Next(items, &pos, &name, &value)) {
        int keep = !PyObject_TypeCheck(value, &PyMemberDescr_Type) &&
                   !PyDict_Contains(ValueType->tp_dict, name);
        for (int i = 0; keep && skip[i]; i++)
            keep = PyUnicode_CompareWithASCIIString(name, skip[i]) != 0;
        if (keep)
            status = PyObject_SetAttr((PyObject *)ValueType, name, value);
    }
    Py_XDECREF(items);
    return status;
}

static PyObject *
install(PyObject *module, PyObject *args)
{
    PyObject *ref, *ns, *ops = NULL, *gradmode = NULL, *functools = NULL, *checks = NULL;
    if (!PyArg_ParseTuple(args, "O!O!:install", &PyType_Type, &ref, &PyDict_Type, &ns))
        return NULL;
    int ok = take(&ops, ns, "ops") == 0 && take(&py_constant, ns, "_constant") == 0 &&
             take(&py_linear, ns, "linear") == 0 && take(&py_chain_rule, ns, "chain_rule") == 0 &&
             take(&checks, ns, "checks") == 0 && take(&py_to_float, checks, "to_float") == 0 &&
             take(&py_grad_enabled, ns, "is_grad_enabled") == 0;
    ok = ok && take(&op_add, ops, "ADD") == 0 && take(&op_mul, ops, "MUL") == 0 && take(&op_pow, ops, "POW") == 0 &&
         take(&op_exp, ops, "EXP") == 0 && take(&op_log, ops, "LOG") == 0 && take(&op_tanh, ops, "TANH") == 0 &&
         take(&op_relu, ops, "RELU") == 0 && take(&op_sigmoid, ops, "SIGMOID") == 0 &&
         take(&op_linear, ops, "LINEAR") == 0 && take(&op_dot, ops, "DOT") == 0;
    ok = ok && (gradmode = PyImport_ImportModule("micrograd._gradmode")) != NULL &&
         take(&open_blocks, gradmode, "open_blocks") == 0 && (functools = PyImport_ImportModule("functools")) &&
         take(&partial, functools, "partial") == 0 && take(&native_chain_rule, module, "chain_rule") == 0;
    Py_XDECREF(ops);
    Py_XDECREF(checks);
    Py_XDECREF(gradmode);
    Py_XDECREF(functools);
    if (!ok)
        return NULL;
    PyObject *ops_module = PyImport_ImportModule("micrograd.ops");
    if (ops_module == NULL || take(&row_edits, ops_module, "row_edits") < 0) {
        Py_XDECREF(ops_module);
        return NULL;
    }
    Py_DECREF(ops_module);
    for (int i = 0; i < NROWS; i++)
        if (take(&row_functions[i][0], *rows[i], "forward") < 0 || take(&row_functions[i][1], *rows[i], "derivative") < 0)
            return NULL;
    Py_CLEAR(edits_seen);
    Py_XSETREF(engine_ns, Py_NewRef(ns));
    if (!PyList_CheckExact(row_edits) || PyList_GET_SIZE(row_edits) != 1 || !PyList_CheckExact(open_blocks) ||
        PyList_GET_SIZE(open_blocks) != 1)
        return PyErr_Format(PyExc_ImportError, "_cengine.install: row_edits and open_blocks must be lists of one int");
    Py_XSETREF(reference, Py_NewRef(ref));
    if (ValueType == NULL) { /* once per process: a reloaded engine.py keeps the type */
        ValueType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &node_spec, NULL);
        if (ValueType == NULL)
            return NULL;
    }
    if (adopt_methods(ref) < 0)
        return NULL;
    return Py_BuildValue("(ONNN)", ValueType, PyObject_GetAttrString(module, "topological_order"),
                         PyObject_GetAttrString(module, "chain_rule"), PyObject_GetAttrString(module, "linear"));
}

static PyMethodDef module_methods[] = {
    {"install", install, METH_VARARGS, "install(Value, namespace): the native Value, sharing the reference's methods"},
    {"topological_order", topological_order, METH_VARARGS,
     "topological_order(*roots): every node the roots depend on, children before parents"},
    {"chain_rule", (PyCFunction)(void (*)(void))chain_rule, METH_VARARGS | METH_KEYWORDS,
     "chain_rule(order, create_graph=False): child.grad += local * node.grad for every edge"},
    {"linear", linear, METH_VARARGS, "linear(weights, inputs, bias): bias + sum(w_i * x_i) as one node"},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "micrograd._cengine", "The engine of micrograd/engine.py, in C.", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__cengine(void)
{
    zero = PyLong_FromLong(0);
    str_backward = PyUnicode_InternFromString("_backward");
    str_op = PyUnicode_InternFromString("_op");
    str_display = PyUnicode_InternFromString("display");
    if (zero == NULL || str_backward == NULL || str_op == NULL || str_display == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
