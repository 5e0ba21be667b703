/* Native fast path of data.format.parse_completion, for well-formed completions only.
 *
 * The Python parser (data.format.parse_completion_reference) is the reference: it accepts any
 * text and reports every structural fault. This scanner does the same walk in one pass over the
 * code points, but only for completions it can prove clean: the language line, each section
 * opened and closed once, in order, non-empty, valid report labels, no section missing for the
 * chosen path, refs only in the answer, every ref the canonical <ref name="<|source_id|>N">
 * closed by </ref>, nothing but whitespace outside the sections. Then it builds the same
 * ParsedCompletion the reference builds (with no errors). At the first doubt (anything the
 * reference would report as an error, or any ref tag it would have to read leniently) it
 * returns None and data.format runs the reference parser instead, so the result of
 * parse_completion never depends on which parser ran. Linear time: every loop moves forward,
 * except the claim search, which moves back over a window no other search visits.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MAX_SECTIONS 31 /* ranks are bits of an unsigned mask */
#define MAX_LANGUAGE_CHARS 40
#define MAX_TOKEN_NAME_CHARS 40
#define MAX_SOURCE_ID_DIGITS 9
#define MAX_WRITTEN_ID_DIGITS 20 /* leading zeros included; far inside the reference's 200 */

typedef struct {
    PyObject_HEAD
    PyObject *section_type, *citation_type, *completion_type;
    PyObject *section_names;     /* tuple of str, by rank */
    PyObject *tokens;            /* dict: token name -> int (rank * 2 + 1 for a start token) */
    PyObject *eos_tokens;        /* tuple of str */
    PyObject *query_labels, *source_labels; /* dict: lower-cased label -> canonical label */
    PyObject *short_path_labels; /* frozenset of canonical query labels */
    unsigned skippable;          /* bitmask of the ranks the short path may skip */
    int n_sections, query_report_rank, source_report_rank, answer_rank;
} Scanner;

typedef struct {
    PyObject *object;
    int kind;
    const void *data;
} Text;

#define AT(t, i) PyUnicode_READ((t)->kind, (t)->data, (i))
#define IS_SPACE(c) Py_UNICODE_ISSPACE(c)

/* Interned attribute names, created at module init. */
static PyObject *str_name, *str_content, *str_start, *str_end, *str_closed, *str_source_id,
    *str_raw_id, *str_quote, *str_span, *str_quote_span, *str_claim, *str_text, *str_language,
    *str_sections, *str_query_report, *str_source_report, *str_citations, *str_errors,
    *str_ended, *str_empty, *str_dot, *str_strip, *str_lower;
static PyObject *empty_tuple;

/* ---- text helpers (all bounds are half-open [from, to)) ---- */

static int starts_with(const Text *t, Py_ssize_t at, Py_ssize_t to, const char *literal) {
    for (Py_ssize_t k = 0; literal[k]; k++)
        if (at + k >= to || AT(t, at + k) != (Py_UCS4)(unsigned char)literal[k])
            return 0;
    return 1;
}

/* ASCII case-insensitive; the literal is lower case. No other code point matches r, e or f
 * under Python's re.IGNORECASE (checked over all of Unicode), so this is the reference's test. */
static int starts_with_folded(const Text *t, Py_ssize_t at, Py_ssize_t to, const char *literal) {
    for (Py_ssize_t k = 0; literal[k]; k++) {
        if (at + k >= to)
            return 0;
        Py_UCS4 c = AT(t, at + k);
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (c != (Py_UCS4)(unsigned char)literal[k])
            return 0;
    }
    return 1;
}

static Py_ssize_t find(const Text *t, Py_ssize_t from, Py_ssize_t to, const char *literal) {
    for (Py_ssize_t i = from; i < to; i++)
        if (AT(t, i) == (Py_UCS4)(unsigned char)literal[0] && starts_with(t, i, to, literal))
            return i;
    return -1;
}

static Py_ssize_t skip_space(const Text *t, Py_ssize_t from, Py_ssize_t to) {
    while (from < to && IS_SPACE(AT(t, from)))
        from++;
    return from;
}

static Py_ssize_t trim_space(const Text *t, Py_ssize_t from, Py_ssize_t to) {
    while (to > from && IS_SPACE(AT(t, to - 1)))
        to--;
    return to;
}

/* str.isspace() of a non-empty slice; an empty slice counts as blank here. */
static int blank(const Text *t, Py_ssize_t from, Py_ssize_t to) {
    return skip_space(t, from, to) == to;
}

/* <ref (any case) or </ref (any case) at `at`: a tag the reference would have to read. */
static int ref_like(const Text *t, Py_ssize_t at, Py_ssize_t to) {
    return starts_with_folded(t, at, to, "<ref") || starts_with_folded(t, at, to, "</ref");
}

/* ---- object building: the dataclasses are filled field by field, as their __init__ does ---- */

static PyObject *new_instance(PyObject *type) {
    return PyBaseObject_Type.tp_new((PyTypeObject *)type, empty_tuple, NULL);
}

/* Set `name` to `value` (stolen) on `object`, bypassing a frozen dataclass's __setattr__. */
static int put(PyObject *object, PyObject *name, PyObject *value) {
    if (value == NULL)
        return -1;
    int status = PyObject_GenericSetAttr(object, name, value);
    Py_DECREF(value);
    return status;
}

static PyObject *span_of(Py_ssize_t start, Py_ssize_t end) {
    return Py_BuildValue("(nn)", start, end);
}

static PyObject *make_section(Scanner *self, PyObject *text, int rank, Py_ssize_t start,
                              Py_ssize_t end, PyObject **content) {
    PyObject *section = new_instance(self->section_type);
    if (section == NULL)
        return NULL;
    *content = PyUnicode_Substring(text, start, end);
    if (put(section, str_name, Py_NewRef(PyTuple_GET_ITEM(self->section_names, rank))) < 0 ||
        put(section, str_content, Py_XNewRef(*content)) < 0 ||
        put(section, str_start, PyLong_FromSsize_t(start)) < 0 ||
        put(section, str_end, PyLong_FromSsize_t(end)) < 0 ||
        put(section, str_closed, Py_NewRef(Py_True)) < 0) {
        Py_DECREF(section);
        return NULL;
    }
    return section;
}

/* The claim of a ref: the window before it back to the last sentence end, stripped; an empty
 * window keeps the previous claim (the reference's _claim and _LAST_SENTENCE_END). */
static PyObject *claim_of(const Text *t, Py_ssize_t from, Py_ssize_t to, PyObject *previous) {
    to = trim_space(t, from, to);
    if (to == from)
        return Py_NewRef(previous);
    Py_ssize_t start = from;
    for (Py_ssize_t p = to - 1; p >= from; p--) {
        Py_UCS4 c = AT(t, p);
        if (p + 1 < to && (c == '.' || c == '!' || c == '?' || c == ';' || c == ':') &&
            IS_SPACE(AT(t, p + 1))) {
            start = p + 2;
            break;
        }
        if (c == '\n') {
            start = p + 1;
            break;
        }
    }
    start = skip_space(t, start, to);
    return PyUnicode_Substring(t->object, start, to);
}

static PyObject *make_citation(Scanner *self, const Text *t, Py_ssize_t tag_start,
                               Py_ssize_t id_start, Py_ssize_t id_end, Py_ssize_t quote_end,
                               PyObject *claim) {
    long source_id = 0;
    for (Py_ssize_t k = id_start; k < id_end; k++)
        source_id = source_id * 10 + (long)(AT(t, k) - '0');
    Py_ssize_t quote_start = id_end + 2, tag_end = quote_end + 6; /* after "> and before </ref> */
    PyObject *citation = new_instance(self->citation_type);
    if (citation == NULL)
        return NULL;
    if (put(citation, str_source_id, PyLong_FromLong(source_id)) < 0 ||
        put(citation, str_raw_id, PyUnicode_Substring(t->object, id_start, id_end)) < 0 ||
        put(citation, str_quote, PyUnicode_Substring(t->object, quote_start, quote_end)) < 0 ||
        put(citation, str_span, span_of(tag_start, tag_end)) < 0 ||
        put(citation, str_quote_span, span_of(quote_start, quote_end)) < 0 ||
        put(citation, str_claim, Py_NewRef(claim)) < 0 || put(citation, str_closed, Py_NewRef(Py_True)) < 0) {
        Py_DECREF(citation);
        return NULL;
    }
    return citation;
}

/* ---- the scan ---- */

typedef struct {
    int rank;
    Py_ssize_t start, end;
} Span;

/* Outcome of a step: OK, NOT_CLEAN (let the reference parse it) or FAILED (exception set). */
enum { OK = 0, NOT_CLEAN = 1, FAILED = -1 };

/* Strip a leading prompt and trailing EOS strings: the body is [*body, *end). */
static int find_body(Scanner *self, const Text *t, Py_ssize_t length, Py_ssize_t *body,
                     Py_ssize_t *end, int *ended) {
    Py_ssize_t head = skip_space(t, 0, length);
    *body = 0;
    if (starts_with(t, head, length, "<|query_start|>") ||
        starts_with(t, head, length, "<|language_start|>")) {
        Py_ssize_t marker = find(t, head, length, "<|language_start|>");
        if (marker >= 0) {
            Py_ssize_t cut = marker + 18;
            while (cut < length && (AT(t, cut) == '\r' || AT(t, cut) == '\n'))
                cut++;
            *body = cut;
        }
    }
    *end = trim_space(t, *body, length);
    *ended = 0;
    Py_ssize_t count = PyTuple_GET_SIZE(self->eos_tokens);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *eos = PyTuple_GET_ITEM(self->eos_tokens, k);
        Py_ssize_t hit = PyUnicode_Tailmatch(t->object, eos, *body, *end, 1);
        if (hit < 0)
            return FAILED;
        if (hit) {
            *end = trim_space(t, *body, *end - PyUnicode_GET_LENGTH(eos));
            *ended = 1;
            k = -1; /* start over: another EOS may precede this one */
        }
    }
    return OK;
}

/* Pair the section tokens of [cursor, end) into spans; NOT_CLEAN at any structural fault. */
static int find_sections(Scanner *self, const Text *t, Py_ssize_t cursor, Py_ssize_t end,
                         Span *spans, int *count) {
    int open = -1;
    Py_ssize_t open_at = 0;
    unsigned seen = 0;
    *count = 0;
    for (Py_ssize_t i = cursor; i + 1 < end;) {
        if (AT(t, i) != '<' || AT(t, i + 1) != '|') {
            i++;
            continue;
        }
        Py_ssize_t j = i + 2;
        while (j < end && j - (i + 2) <= MAX_TOKEN_NAME_CHARS &&
               ((AT(t, j) >= 'a' && AT(t, j) <= 'z') || AT(t, j) == '_'))
            j++;
        Py_ssize_t name_length = j - (i + 2);
        if (name_length < 1 || name_length > MAX_TOKEN_NAME_CHARS || j + 2 > end ||
            AT(t, j) != '|' || AT(t, j + 1) != '>' ||
            (name_length == 9 && starts_with(t, i + 2, j, "source_id"))) {
            i++;
            continue;
        }
        PyObject *name = PyUnicode_Substring(t->object, i + 2, j);
        if (name == NULL)
            return FAILED;
        PyObject *role = PyDict_GetItemWithError(self->tokens, name);
        Py_DECREF(name);
        if (role == NULL)
            return PyErr_Occurred() ? FAILED : NOT_CLEAN; /* not a section token */
        long code = PyLong_AsLong(role);
        int rank = (int)(code >> 1), opens = (int)(code & 1);
        if (opens) {
            if (open >= 0 || (seen & (1u << rank)) || (i > cursor && !blank(t, cursor, i)))
                return NOT_CLEAN;
            seen |= 1u << rank;
            open = rank;
            open_at = j + 2;
        } else {
            if (open != rank || blank(t, open_at, i))
                return NOT_CLEAN; /* unmatched end, or an empty section */
            if (*count > 0 && spans[*count - 1].rank > rank)
                return NOT_CLEAN; /* out of order */
            spans[(*count)++] = (Span){rank, open_at, i};
            open = -1;
        }
        cursor = i = j + 2;
    }
    if (open >= 0 || !blank(t, cursor, end))
        return NOT_CLEAN; /* truncated, or text after the last section */
    return OK;
}

/* The canonical label of a report section's content (content.strip().strip(".").lower() looked
 * up in `labels`): a new reference, Py_None when there is no such label, NULL on error. */
static PyObject *label_of(PyObject *content, PyObject *labels) {
    PyObject *stripped = PyObject_CallMethodNoArgs(content, str_strip);
    if (stripped == NULL)
        return NULL;
    PyObject *undotted = PyObject_CallMethodOneArg(stripped, str_strip, str_dot);
    Py_DECREF(stripped);
    if (undotted == NULL)
        return NULL;
    PyObject *key = PyObject_CallMethodNoArgs(undotted, str_lower);
    Py_DECREF(undotted);
    if (key == NULL)
        return NULL;
    PyObject *label = PyDict_GetItemWithError(labels, key);
    Py_DECREF(key);
    if (label == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    return Py_NewRef(label);
}

/* Every ref of the answer [from, to) as a Citation appended to `citations`; NOT_CLEAN unless
 * each is canonical and closed, with no other ref-like tag in the answer. */
static int find_citations(Scanner *self, const Text *t, Py_ssize_t from, Py_ssize_t to,
                          PyObject *citations) {
    PyObject *claim = Py_NewRef(str_empty);
    Py_ssize_t claim_from = from;
    int status = OK;
    for (Py_ssize_t i = from; i < to && status == OK;) {
        if (AT(t, i) != '<' || !ref_like(t, i, to)) {
            i++;
            continue;
        }
        Py_ssize_t id_start = i + 24, id_end = id_start; /* after <ref name="<|source_id|> */
        if (!starts_with(t, i, to, "<ref name=\"<|source_id|>")) {
            status = NOT_CLEAN;
            break;
        }
        while (id_end < to && AT(t, id_end) >= '0' && AT(t, id_end) <= '9')
            id_end++;
        Py_ssize_t significant = id_start;
        while (significant < id_end && AT(t, significant) == '0')
            significant++;
        if (id_end == id_start || id_end - id_start > MAX_WRITTEN_ID_DIGITS ||
            id_end - significant > MAX_SOURCE_ID_DIGITS || !starts_with(t, id_end, to, "\">")) {
            status = NOT_CLEAN;
            break;
        }
        Py_ssize_t quote_end = id_end + 2;
        while (quote_end < to && !(AT(t, quote_end) == '<' && ref_like(t, quote_end, to)))
            quote_end++;
        if (!starts_with(t, quote_end, to, "</ref>")) {
            status = NOT_CLEAN; /* unclosed, or another tag in the quote */
            break;
        }
        PyObject *next_claim = claim_of(t, claim_from, i, claim);
        Py_DECREF(claim);
        claim = next_claim;
        PyObject *citation = claim ? make_citation(self, t, i, id_start, id_end, quote_end, claim) : NULL;
        if (citation == NULL || PyList_Append(citations, citation) < 0)
            status = FAILED;
        Py_XDECREF(citation);
        claim_from = i = quote_end + 6;
    }
    Py_XDECREF(claim);
    return status;
}

/* No ref-like tag in [from, to): refs belong in the answer. */
static int free_of_refs(const Text *t, Py_ssize_t from, Py_ssize_t to) {
    for (Py_ssize_t i = from; i < to; i++)
        if (AT(t, i) == '<' && ref_like(t, i, to))
            return 0;
    return 1;
}

/* Build the sections (and their labels) and the citations into `parsed`. */
static int fill(Scanner *self, const Text *t, Span *spans, int count, PyObject *parsed) {
    PyObject *sections = PyList_New(count), *citations = PyList_New(0);
    PyObject *labels[2] = {Py_NewRef(Py_None), Py_NewRef(Py_None)};
    int status = (sections && citations) ? OK : FAILED;
    unsigned present = 0;
    for (int k = 0; k < count && status == OK; k++) {
        Span s = spans[k];
        present |= 1u << s.rank;
        PyObject *content = NULL;
        PyObject *section = make_section(self, t->object, s.rank, s.start, s.end, &content);
        if (section == NULL) {
            Py_XDECREF(content);
            status = FAILED;
            break;
        }
        PyList_SET_ITEM(sections, k, section);
        int which = s.rank == self->query_report_rank ? 0 : s.rank == self->source_report_rank ? 1 : -1;
        if (which >= 0) {
            PyObject *label = label_of(content, which ? self->source_labels : self->query_labels);
            Py_SETREF(labels[which], label);
            status = label == NULL ? FAILED : label == Py_None ? NOT_CLEAN : OK;
        } else if (s.rank == self->answer_rank) {
            status = find_citations(self, t, s.start, s.end, citations);
        } else if (!free_of_refs(t, s.start, s.end)) {
            status = NOT_CLEAN;
        }
        Py_DECREF(content);
    }
    if (status == OK && count < self->n_sections) { /* a missing section must be skippable */
        int short_path = labels[0] != Py_None ? PySet_Contains(self->short_path_labels, labels[0]) : 0;
        unsigned allowed = present | (short_path > 0 ? self->skippable : 0);
        status = short_path < 0 ? FAILED : allowed == (1u << self->n_sections) - 1 ? OK : NOT_CLEAN;
    }
    if (status == OK && (put(parsed, str_sections, Py_NewRef(sections)) < 0 ||
                         put(parsed, str_citations, Py_NewRef(citations)) < 0 ||
                         put(parsed, str_query_report, Py_NewRef(labels[0])) < 0 ||
                         put(parsed, str_source_report, Py_NewRef(labels[1])) < 0))
        status = FAILED;
    Py_XDECREF(sections);
    Py_XDECREF(citations);
    Py_DECREF(labels[0]);
    Py_DECREF(labels[1]);
    return status;
}

static PyObject *scan(Scanner *self, PyObject *text) {
    if (!PyUnicode_CheckExact(text))
        Py_RETURN_NONE;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)
        return NULL;
#endif
    Text t = {text, PyUnicode_KIND(text), PyUnicode_DATA(text)};
    Py_ssize_t body, end;
    int ended, count;
    Span spans[MAX_SECTIONS];
    if (find_body(self, &t, PyUnicode_GET_LENGTH(text), &body, &end, &ended) < 0)
        return NULL;
    Py_ssize_t language_end = find(&t, body, end, "<|language_end|>");
    if (language_end < 0)
        Py_RETURN_NONE;
    Py_ssize_t language_start = skip_space(&t, body, language_end);
    Py_ssize_t language_stop = trim_space(&t, language_start, language_end);
    if (language_stop == language_start || language_stop - language_start > MAX_LANGUAGE_CHARS ||
        find(&t, language_start, language_stop, "<|") >= 0)
        Py_RETURN_NONE;
    int status = find_sections(self, &t, language_end + 16, end, spans, &count);
    if (status == FAILED)
        return NULL;
    if (status == NOT_CLEAN)
        Py_RETURN_NONE;
    PyObject *parsed = new_instance(self->completion_type);
    if (parsed == NULL)
        return NULL;
    status = fill(self, &t, spans, count, parsed);
    if (status == OK &&
        (put(parsed, str_text, Py_NewRef(text)) < 0 ||
         put(parsed, str_language, PyUnicode_Substring(text, language_start, language_stop)) < 0 ||
         put(parsed, str_errors, PyList_New(0)) < 0 ||
         put(parsed, str_ended, PyBool_FromLong(ended)) < 0))
        status = FAILED;
    if (status == OK)
        return parsed;
    Py_DECREF(parsed);
    if (status == FAILED)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- the Scanner type ---- */

static int scanner_init(Scanner *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"section_type", "citation_type", "completion_type", "section_names",
                               "token_roles", "eos_tokens", "query_labels", "source_labels",
                               "short_path_labels", "skippable", NULL};
    PyObject *types[3], *names, *roles, *eos, *query_labels, *source_labels, *short_path, *skippable;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO!O!O!O!O!O!O!", keywords, &types[0],
                                     &types[1], &types[2], &PyTuple_Type, &names, &PyDict_Type,
                                     &roles, &PyTuple_Type, &eos, &PyDict_Type, &query_labels,
                                     &PyDict_Type, &source_labels, &PyFrozenSet_Type, &short_path,
                                     &PyFrozenSet_Type, &skippable))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (n < 1 || n > MAX_SECTIONS) {
        PyErr_Format(PyExc_ValueError, "section_names: 1 to %d names, got %zd", MAX_SECTIONS, n);
        return -1;
    }
    for (int k = 0; k < 3; k++)
        if (!PyType_Check(types[k])) {
            PyErr_Format(PyExc_TypeError, "%s must be a class", keywords[k]);
            return -1;
        }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(eos); k++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(eos, k)) || PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(eos, k)) == 0) {
            PyErr_SetString(PyExc_TypeError, "eos_tokens must be non-empty strings");
            return -1;
        }
    self->query_report_rank = self->source_report_rank = self->answer_rank = -1;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (!PyUnicode_Check(name)) {
            PyErr_Format(PyExc_TypeError, "section_names[%zd] is not a string", k);
            return -1;
        }
        if (PyUnicode_CompareWithASCIIString(name, "query_report") == 0)
            self->query_report_rank = (int)k;
        else if (PyUnicode_CompareWithASCIIString(name, "source_report") == 0)
            self->source_report_rank = (int)k;
        else if (PyUnicode_CompareWithASCIIString(name, "answer") == 0)
            self->answer_rank = (int)k;
    }
    if (self->answer_rank < 0) {
        PyErr_SetString(PyExc_ValueError, "section_names must include answer");
        return -1;
    }
    /* token name -> (rank, opens) becomes token name -> rank * 2 + opens, ranks checked */
    PyObject *tokens = PyDict_New(), *key, *value;
    Py_ssize_t position = 0;
    if (tokens == NULL)
        return -1;
    while (PyDict_Next(roles, &position, &key, &value)) {
        Py_ssize_t rank = -1;
        int opens = -1;
        if (PyUnicode_Check(key) && PyTuple_Check(value) && PyTuple_GET_SIZE(value) == 2) {
            rank = PyLong_AsSsize_t(PyTuple_GET_ITEM(value, 0));
            opens = PyObject_IsTrue(PyTuple_GET_ITEM(value, 1));
        }
        PyObject *code = (rank >= 0 && rank < n && opens >= 0) ? PyLong_FromSsize_t(rank * 2 + opens) : NULL;
        if (code == NULL || PyDict_SetItem(tokens, key, code) < 0) {
            Py_XDECREF(code);
            Py_DECREF(tokens);
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "token_roles: every value must be (rank, opens), rank a section");
            return -1;
        }
        Py_DECREF(code);
    }
    unsigned mask = 0;
    PyObject *iterator = PyObject_GetIter(skippable), *item;
    if (iterator == NULL) {
        Py_DECREF(tokens);
        return -1;
    }
    while ((item = PyIter_Next(iterator)) != NULL) {
        Py_ssize_t rank = PyLong_Check(item) ? PyLong_AsSsize_t(item) : -1;
        Py_DECREF(item);
        if (rank < 0 || rank >= n) {
            Py_DECREF(iterator);
            Py_DECREF(tokens);
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "skippable: every item must be a section rank");
            return -1;
        }
        mask |= 1u << rank;
    }
    Py_DECREF(iterator);
    Py_XSETREF(self->tokens, tokens);
    Py_XSETREF(self->section_type, Py_NewRef(types[0]));
    Py_XSETREF(self->citation_type, Py_NewRef(types[1]));
    Py_XSETREF(self->completion_type, Py_NewRef(types[2]));
    Py_XSETREF(self->section_names, Py_NewRef(names));
    Py_XSETREF(self->eos_tokens, Py_NewRef(eos));
    Py_XSETREF(self->query_labels, Py_NewRef(query_labels));
    Py_XSETREF(self->source_labels, Py_NewRef(source_labels));
    Py_XSETREF(self->short_path_labels, Py_NewRef(short_path));
    self->skippable = mask;
    self->n_sections = (int)n;
    return 0;
}

static PyObject *scanner_scan(Scanner *self, PyObject *text) {
    if (self->tokens == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner was not initialised");
        return NULL;
    }
    return scan(self, text);
}

static int scanner_traverse(Scanner *self, visitproc visit, void *arg) {
    Py_VISIT(self->section_type);
    Py_VISIT(self->citation_type);
    Py_VISIT(self->completion_type);
    Py_VISIT(self->section_names);
    Py_VISIT(self->tokens);
    Py_VISIT(self->eos_tokens);
    Py_VISIT(self->query_labels);
    Py_VISIT(self->source_labels);
    Py_VISIT(self->short_path_labels);
    return 0;
}

static int scanner_clear(Scanner *self) {
    Py_CLEAR(self->section_type);
    Py_CLEAR(self->citation_type);
    Py_CLEAR(self->completion_type);
    Py_CLEAR(self->section_names);
    Py_CLEAR(self->tokens);
    Py_CLEAR(self->eos_tokens);
    Py_CLEAR(self->query_labels);
    Py_CLEAR(self->source_labels);
    Py_CLEAR(self->short_path_labels);
    return 0;
}

static void scanner_dealloc(Scanner *self) {
    PyObject_GC_UnTrack(self);
    scanner_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef scanner_methods[] = {
    {"scan", (PyCFunction)scanner_scan, METH_O,
     "scan(text) -> ParsedCompletion of a clean completion, or None (parse it with the reference)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "data._parse.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fast path of parse_completion for clean completions (see data/format.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)scanner_init,
    .tp_traverse = (traverseproc)scanner_traverse,
    .tp_clear = (inquiry)scanner_clear,
    .tp_dealloc = (destructor)scanner_dealloc,
    .tp_methods = scanner_methods,
};

static struct PyModuleDef parse_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "data._parse",
    .m_doc = "Native fast path of data.format.parse_completion.",
    .m_size = -1,
};

static int intern_names(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {{&str_name, "name"}, {&str_content, "content"}, {&str_start, "start"},
                 {&str_end, "end"}, {&str_closed, "closed"}, {&str_source_id, "source_id"},
                 {&str_raw_id, "raw_id"}, {&str_quote, "quote"}, {&str_span, "span"},
                 {&str_quote_span, "quote_span"}, {&str_claim, "claim"}, {&str_text, "text"},
                 {&str_language, "language"}, {&str_sections, "sections"},
                 {&str_query_report, "query_report"}, {&str_source_report, "source_report"},
                 {&str_citations, "citations"}, {&str_errors, "errors"}, {&str_ended, "ended"},
                 {&str_empty, ""}, {&str_dot, "."}, {&str_strip, "strip"}, {&str_lower, "lower"}};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if ((*names[k].slot = PyUnicode_InternFromString(names[k].text)) == NULL)
            return -1;
    empty_tuple = PyTuple_New(0);
    return empty_tuple == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__parse(void) {
    if (intern_names() < 0 || PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&parse_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObject(module, "Scanner", Py_NewRef((PyObject *)&ScannerType)) < 0) {
        Py_DECREF((PyObject *)&ScannerType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
