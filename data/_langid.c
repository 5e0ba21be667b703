/* Native kernel of py3langid's classifier (model format of py3langid >= 0.4).
 *
 * py3langid walks a byte-level DFA in a Python loop (one dict/list lookup per byte), counts
 * the features the walk visits, and scores each language as
 *     prior[l] + sum_f log1p(count_f) * table[f][l],
 * then (norm_probs) divides by sqrt(number of bytes) and takes a softmax. This module does the
 * same walk and the same arithmetic in C on the model's own arrays, which are checked once, at
 * construction, so that no walk can read outside them. data/language.py builds it from the
 * loaded py3langid identifier, compares it with py3langid on sample texts, and falls back to
 * py3langid when this module is missing or disagrees.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LANGUAGES 256

typedef struct {
    PyObject_HEAD
    Py_buffer nextmove; /* uint32: next state = nextmove[rowbase[state] + byte] */
    Py_buffer rowbase;  /* int64, one per state */
    Py_buffer output;   /* int32, one per state: the feature it completes, or -1 */
    Py_buffer table;    /* float32, features x languages, row-major */
    Py_buffer prior;    /* float32, one per language */
    Py_ssize_t n_states, n_languages;
} Model;

static int get_buffer(PyObject *object, Py_buffer *view, const char *format, const char *name) {
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (strcmp(view->format, format) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected buffer format '%s', got '%s'", name, format,
                     view->format);
        PyBuffer_Release(view); /* also sets view->obj to NULL */
        return -1;
    }
    return 0;
}

/* Every index the walk and the scoring can compute must be inside the arrays. */
static int check_model(Model *m, Py_ssize_t n_moves, Py_ssize_t n_features) {
    const uint32_t *nextmove = m->nextmove.buf;
    const int64_t *rowbase = m->rowbase.buf;
    const int32_t *output = m->output.buf;
    if (m->n_states == 0 || m->output.len / 4 != m->n_states) {
        PyErr_SetString(PyExc_ValueError, "rowbase and output must have one entry per state");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n_moves; i++)
        if ((Py_ssize_t)nextmove[i] >= m->n_states) {
            PyErr_Format(PyExc_ValueError, "nextmove[%zd] is not a state", i);
            return -1;
        }
    for (Py_ssize_t s = 0; s < m->n_states; s++) {
        if (rowbase[s] < 0 || rowbase[s] + 256 > n_moves) {
            PyErr_Format(PyExc_ValueError, "rowbase[%zd] is outside nextmove", s);
            return -1;
        }
        if (output[s] < -1 || output[s] >= n_features) {
            PyErr_Format(PyExc_ValueError, "output[%zd] is not a feature", s);
            return -1;
        }
    }
    return 0;
}

static void Model_dealloc(Model *m) {
    Py_buffer *views[] = {&m->nextmove, &m->rowbase, &m->output, &m->table, &m->prior};
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
        if (views[i]->obj != NULL)
            PyBuffer_Release(views[i]);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static int Model_init(Model *m, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"nextmove", "rowbase", "output", "table", "prior", NULL};
    PyObject *objects[5];
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO", keywords, &objects[0], &objects[1],
                                     &objects[2], &objects[3], &objects[4]))
        return -1;
    if (m->nextmove.obj != NULL) {
        PyErr_SetString(PyExc_TypeError, "Model is already initialised");
        return -1;
    }
    if (get_buffer(objects[0], &m->nextmove, "I", "nextmove") < 0 ||
        get_buffer(objects[1], &m->rowbase, "q", "rowbase") < 0 ||
        get_buffer(objects[2], &m->output, "i", "output") < 0 ||
        get_buffer(objects[3], &m->table, "f", "table") < 0 ||
        get_buffer(objects[4], &m->prior, "f", "prior") < 0)
        return -1;
    m->n_states = m->rowbase.len / 8;
    m->n_languages = m->prior.len / 4;
    if (m->n_languages < 1 || m->n_languages > MAX_LANGUAGES || m->table.len % m->prior.len) {
        PyErr_SetString(PyExc_ValueError, "table must be features x languages, prior one per language");
        return -1;
    }
    return check_model(m, m->nextmove.len / 4, m->table.len / m->prior.len);
}

/* Sort the (non-negative) features ascending, as qsort would: an LSD radix sort on 9-bit
 * digits, two passes for py3langid's 100k features, no comparison callback. -1 on no memory. */
static int sort_features(int32_t *features, Py_ssize_t count) {
    if (count < 2)
        return 0;
    int32_t *spare = PyMem_Malloc((size_t)count * sizeof(int32_t));
    if (spare == NULL)
        return -1;
    uint32_t largest = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        largest = (uint32_t)features[i] > largest ? (uint32_t)features[i] : largest;
    int32_t *from = features, *to = spare;
    for (int shift = 0; shift == 0 || (shift < 32 && (largest >> shift) != 0); shift += 9) {
        uint32_t starts[513] = {0};
        for (Py_ssize_t i = 0; i < count; i++)
            starts[(((uint32_t)from[i] >> shift) & 511) + 1]++;
        for (int digit = 0; digit < 512; digit++)
            starts[digit + 1] += starts[digit];
        for (Py_ssize_t i = 0; i < count; i++)
            to[starts[((uint32_t)from[i] >> shift) & 511]++] = from[i];
        int32_t *sorted = to;
        to = from;
        from = sorted;
    }
    if (from != features)
        memcpy(features, from, (size_t)count * sizeof(int32_t));
    PyMem_Free(spare);
    return 0;
}

/* Raw scores of `text` (prior + sum of log1p(count) * weight) into `scores`; -1 on no memory. */
static int raw_scores(const Model *m, const unsigned char *text, Py_ssize_t length, double *scores) {
    const uint32_t *nextmove = m->nextmove.buf;
    const int64_t *rowbase = m->rowbase.buf;
    const int32_t *output = m->output.buf;
    const float *table = m->table.buf, *prior = m->prior.buf;
    Py_ssize_t n = m->n_languages, visited = 0;
    int32_t *features = PyMem_Malloc((length > 0 ? length : 1) * sizeof(int32_t));
    if (features == NULL)
        return -1;
    uint32_t state = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        state = nextmove[rowbase[state] + text[i]];
        if (output[state] >= 0)
            features[visited++] = output[state];
    }
    for (Py_ssize_t l = 0; l < n; l++)
        scores[l] = 0.0;
    if (sort_features(features, visited) < 0) {
        PyMem_Free(features);
        return -1;
    }
    for (Py_ssize_t i = 0; i < visited;) {
        Py_ssize_t run = i;
        while (run < visited && features[run] == features[i])
            run++;
        double weight = (double)log1pf((float)(run - i));
        const float *row = table + (Py_ssize_t)features[i] * n;
        for (Py_ssize_t l = 0; l < n; l++)
            scores[l] += weight * row[l];
        i = run;
    }
    PyMem_Free(features);
    for (Py_ssize_t l = 0; l < n; l++)
        scores[l] = visited ? (double)((float)scores[l] + prior[l]) : 0.0;
    return 0;
}

PyDoc_STRVAR(classify_doc,
"classify(text: bytes) -> (int, float)\n\n"
"Index of the most probable language and its probability, as py3langid's classify with\n"
"norm_probs=True on the same UTF-8 bytes (scores over sqrt(len(text)), then a softmax).");

static PyObject *Model_classify(Model *m, PyObject *arg) {
    Py_buffer text;
    double scores[MAX_LANGUAGES];
    if (m->nextmove.obj == NULL) {
        PyErr_SetString(PyExc_TypeError, "Model is not initialised");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &text, PyBUF_SIMPLE) < 0)
        return NULL;
    int failed = raw_scores(m, text.buf, text.len, scores);
    double temperature = 1.0 / sqrt(text.len ? (double)text.len : 1.0);
    PyBuffer_Release(&text);
    if (failed)
        return PyErr_NoMemory();
    Py_ssize_t best = 0;
    for (Py_ssize_t l = 0; l < m->n_languages; l++) {
        scores[l] *= temperature;
        if (scores[l] > scores[best])
            best = l;
    }
    double total = 0.0;
    for (Py_ssize_t l = 0; l < m->n_languages; l++)
        total += exp(scores[l] - scores[best]);
    return Py_BuildValue("(nd)", best, 1.0 / total);
}

static PyMethodDef Model_methods[] = {
    {"classify", (PyCFunction)Model_classify, METH_O, classify_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "data._langid.Model",
    .tp_doc = PyDoc_STR("Model(nextmove, rowbase, output, table, prior): a py3langid model in C."),
    .tp_basicsize = sizeof(Model),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Model_init,
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_methods = Model_methods,
};

static struct PyModuleDef langid_module = {
    PyModuleDef_HEAD_INIT, "_langid", "Native kernel of py3langid's classifier.", -1, NULL,
};

PyMODINIT_FUNC PyInit__langid(void) {
    if (PyType_Ready(&ModelType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&langid_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&ModelType);
    if (PyModule_AddObject(module, "Model", (PyObject *)&ModelType) < 0) {
        Py_DECREF(&ModelType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
