/* Native examination of quotes: the hot path of rewards.citation.
 *
 * The Python code of rewards.citation and rewards.align is the reference. An Examiner takes the
 * same steps: examine() for one quote citing one source id (CitationReward.examine_reference:
 * split the quote at elision markers, find each fragment in the normalised source, exact and in
 * order, align it fuzzily on a miss, check its numbers, find the other sources that hold it,
 * decide the verdict and compute Pleias' Smith-Waterman measure), and judge() for every ref of
 * an answer (CitationReward.judge_reference: each ref's verdict in its place, duplicates,
 * unclosed refs and invalid ids, its diagnostics, the metrics and the score). It builds none of
 * the reference's intermediate objects (fragments, alignments, word lists), which is where the
 * reference spends its time.
 * Everything that is not glue stays the very callable the reference calls, passed in at
 * construction: text folding and normalisation (rewards.text, cached), the elision and
 * sentence-break regexes, and every rapidfuzz call. Floating-point expressions are evaluated
 * in the reference's order, so both paths return equal values: tests compare them on random
 * quotes, and rewards.citation only uses an Examiner that agrees with the reference on its
 * self-check quotes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The Python objects an Examiner calls, by keyword of its constructor's `objects` mapping. */
enum {
    FOLD, NORMALISE, PARTIAL_RATIO_ALIGNMENT, PARTIAL_RATIO, LCS_SIMILARITY, OPCODES,
    SMITH_WATERMAN, SPLIT_ELISIONS, SENTENCE_BREAKS, EXAMINED_TYPE, WRAPPING_QUOTES,
    DUPLICATE_SCORE, N_OBJECTS
};
static const char *const object_names[N_OBJECTS] = {
    "fold", "normalise", "partial_ratio_alignment", "partial_ratio", "lcs_similarity",
    "opcodes", "smith_waterman", "split_elisions", "sentence_breaks", "examined_type",
    "wrapping_quotes", "duplicate_score"};

/* Its numbers (CitationSettings and rewards.align's limits), by key of the `numbers` mapping. */
enum {
    MIN_QUOTE_WORDS, MIN_FRAGMENT_WORDS, FUZZY_THRESHOLD, PARAPHRASE_THRESHOLD, QUERY_THRESHOLD,
    DUMP_MIN_SENTENCES, DUMP_COVERAGE, MAX_QUOTE_WORDS, TOO_SHORT_SCORE, SOURCE_DUMP_SCORE,
    FUZZY_FLOOR, PARAPHRASE_CEILING, EXACT_SW, MAX_FUZZY_QUOTE_CHARS, MAX_FUZZY_SOURCE_CHARS,
    NUMBER_SLACK, MAX_DIAGNOSTIC_CHARS, MAX_SW_QUOTE_WORDS, MAX_SW_SOURCE_WORDS,
    MAX_EXAMINED_QUOTES, N_NUMBERS
};
static const char *const number_names[N_NUMBERS] = {
    "min_quote_words", "min_fragment_words", "fuzzy_threshold", "paraphrase_threshold",
    "query_threshold", "dump_min_sentences", "dump_coverage", "max_quote_words",
    "too_short_score", "source_dump_score", "fuzzy_floor", "paraphrase_ceiling", "exact_sw",
    "max_fuzzy_quote_chars", "max_fuzzy_source_chars", "number_slack", "max_diagnostic_chars",
    "max_sw_quote_words", "max_sw_source_words", "max_examined_quotes"};

typedef struct {
    PyObject_HEAD
    PyObject *objects[N_OBJECTS];
    double numbers[N_NUMBERS];
} Examiner;

#define NUMBER(self, name) ((self)->numbers[name])
#define LIMIT(self, name) ((Py_ssize_t)(self)->numbers[name])

/* Interned strings, created at module init. */
static PyObject *str_lower, *str_text, *str_offsets, *str_score, *str_dest_start,
    *str_dest_end, *str_joined, *str_starts, *str_texts, *str_as_list, *str_dots, *str_joiner,
    *str_empty, *kwnames_score_cutoff;
enum { TOO_SHORT, OUT_OF_ORDER, NUMBER_CHANGED, SOURCE_DUMP, ELIDED, EXACT, WRONG_SOURCE,
       QUERY_QUOTE, N_VERDICTS };
static PyObject *verdict_strings[N_VERDICTS], *str_fuzzy, *str_paraphrase, *str_fabricated;
static PyObject *str_closed, *str_quote, *str_source_id, *str_raw_id, *str_unclosed,
    *str_invalid_id, *str_duplicate, *zero;

/* ---- text access ---- */

typedef struct {
    PyObject *object; /* borrowed */
    int kind;
    const void *data;
    Py_ssize_t length;
} Text;

static Text text_of(PyObject *object) {
    Text t = {object, PyUnicode_KIND(object), PyUnicode_DATA(object), PyUnicode_GET_LENGTH(object)};
    return t;
}

#define AT(t, i) PyUnicode_READ((t)->kind, (t)->data, (i))

/* Bounds [from, to) of t after str.strip() (chars NULL) or str.strip(chars). */
static void strip_bounds(const Text *t, Py_ssize_t *from, Py_ssize_t *to, PyObject *chars) {
    Py_ssize_t chars_length = chars ? PyUnicode_GET_LENGTH(chars) : 0;
#define STRIPPED(c) (chars ? PyUnicode_FindChar(chars, (c), 0, chars_length, 1) >= 0 \
                           : Py_UNICODE_ISSPACE(c))
    while (*from < *to && STRIPPED(AT(t, *from)))
        (*from)++;
    while (*to > *from && STRIPPED(AT(t, *to - 1)))
        (*to)--;
#undef STRIPPED
}

/* text.strip(): a new reference, NULL with an exception. */
static PyObject *stripped(PyObject *text) {
    Text t = text_of(text);
    Py_ssize_t from = 0, to = t.length;
    strip_bounds(&t, &from, &to, NULL);
    return PyUnicode_Substring(text, from, to);
}

/* number as a double (float() of an int or a float); -1 with an exception. */
static int as_double(PyObject *number, double *value) {
    *value = PyFloat_AsDouble(number);
    return (*value == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* rewards.align.word_start / word_end. */
static Py_ssize_t word_start(const Text *t, Py_ssize_t index) {
    while (index > 0 && !Py_UNICODE_ISSPACE(AT(t, index - 1)))
        index--;
    return index;
}

static Py_ssize_t word_end(const Text *t, Py_ssize_t index) {
    while (index < t->length && !Py_UNICODE_ISSPACE(AT(t, index)))
        index++;
    return index;
}

/* rewards.align._cuts_number: an exact match starting or ending inside a run of digits. */
static int cuts_number(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    return (0 < start && start < t->length && Py_UNICODE_ISDIGIT(AT(t, start - 1)) &&
            Py_UNICODE_ISDIGIT(AT(t, start))) ||
           (0 < end && end < t->length && Py_UNICODE_ISDIGIT(AT(t, end - 1)) &&
            Py_UNICODE_ISDIGIT(AT(t, end)));
}

/* The next match of rewards.align._NUMBER (\d+(?:[.,]\d+)*, \d a Unicode decimal) in
 * [*cursor, to): its bounds, and *cursor moved past it; 0 when there is none. */
static int next_number(const Text *t, Py_ssize_t *cursor, Py_ssize_t to, Py_ssize_t *start,
                       Py_ssize_t *end) {
    Py_ssize_t i = *cursor;
    while (i < to && !Py_UNICODE_ISDECIMAL(AT(t, i)))
        i++;
    if (i >= to)
        return 0;
    Py_ssize_t j = i;
    for (;;) {
        while (j < to && Py_UNICODE_ISDECIMAL(AT(t, j)))
            j++;
        if (j + 1 < to && (AT(t, j) == '.' || AT(t, j) == ',') && Py_UNICODE_ISDECIMAL(AT(t, j + 1)))
            j++;
        else
            break;
    }
    *start = i;
    *end = *cursor = j;
    return 1;
}

static int same_chars(const Text *a, Py_ssize_t a_start, const Text *b, Py_ssize_t b_start,
                      Py_ssize_t length) {
    for (Py_ssize_t k = 0; k < length; k++)
        if (AT(a, a_start + k) != AT(b, b_start + k))
            return 0;
    return 1;
}

/* Number of " " in t (str.count(" ")). */
static Py_ssize_t count_spaces(const Text *t) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < t->length; i++)
        count += AT(t, i) == ' ';
    return count;
}

/* len(text.split(None, 2)) > 2: at least three whitespace-separated words. */
static int three_words(const Text *t) {
    int words = 0, in_word = 0;
    for (Py_ssize_t i = 0; i < t->length && words < 3; i++) {
        int space = Py_UNICODE_ISSPACE(AT(t, i));
        words += !space && !in_word;
        in_word = !space;
    }
    return words >= 3;
}

/* ---- fragments and their alignment (rewards.align) ---- */

typedef struct {
    PyObject *piece;  /* the fragment as quoted, stripped (owned) */
    PyObject *needle; /* fold(piece), never empty (owned) */
    double similarity;
    int exact, in_order, aligned;
    Py_ssize_t start, end; /* window in the normalised source, when aligned */
} Fragment;

typedef struct {
    Fragment *items;
    Py_ssize_t count;
} Fragments;

static void free_fragments(Fragments *fragments) {
    for (Py_ssize_t k = 0; k < fragments->count; k++) {
        Py_DECREF(fragments->items[k].piece);
        Py_DECREF(fragments->items[k].needle);
    }
    PyMem_Free(fragments->items);
    fragments->items = NULL;
    fragments->count = 0;
}

/* Append `piece` stripped like rewards.align.split_fragments strips it, when it folds to
 * something. */
static int add_fragment(Examiner *self, PyObject *piece, Fragments *out) {
    if (!PyUnicode_Check(piece)) {
        PyErr_SetString(PyExc_TypeError, "an elision split gave a non-string piece");
        return -1;
    }
    Text t = text_of(piece);
    Py_ssize_t from = 0, to = t.length;
    strip_bounds(&t, &from, &to, NULL);
    strip_bounds(&t, &from, &to, self->objects[WRAPPING_QUOTES]);
    strip_bounds(&t, &from, &to, NULL);
    PyObject *stripped = PyUnicode_Substring(piece, from, to);
    if (stripped == NULL)
        return -1;
    PyObject *needle = PyObject_CallOneArg(self->objects[FOLD], stripped);
    if (needle == NULL || !PyUnicode_Check(needle) || PyUnicode_GET_LENGTH(needle) == 0) {
        if (needle != NULL && !PyUnicode_Check(needle))
            PyErr_SetString(PyExc_TypeError, "fold returned a non-string");
        int failed = needle == NULL || PyErr_Occurred();
        Py_XDECREF(needle);
        Py_DECREF(stripped);
        return failed ? -1 : 0;
    }
    Fragment fragment = {stripped, needle, 0.0, 0, 1, 0, 0, 0};
    out->items[out->count++] = fragment;
    return 0;
}

/* rewards.align.split_fragments, with each fragment's fold. */
static int split_fragments(Examiner *self, PyObject *quote, Fragments *out) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(quote);
    Py_ssize_t ellipsis = PyUnicode_FindChar(quote, 0x2026, 0, length, 1);
    Py_ssize_t dots = ellipsis >= 0 ? ellipsis : PyUnicode_Find(quote, str_dots, 0, length, 1);
    if (ellipsis == -2 || dots == -2)
        return -1;
    PyObject *pieces = dots >= 0 ? PyObject_CallOneArg(self->objects[SPLIT_ELISIONS], quote)
                                 : PyTuple_Pack(1, quote);
    if (pieces == NULL)
        return -1;
    PyObject *sequence = PySequence_Fast(pieces, "the elision split did not give a sequence");
    Py_DECREF(pieces);
    if (sequence == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    out->items = PyMem_Calloc(count ? count : 1, sizeof(Fragment));
    int status = out->items == NULL ? (PyErr_NoMemory(), -1) : 0;
    for (Py_ssize_t k = 0; k < count && status == 0; k++)
        status = add_fragment(self, PySequence_Fast_GET_ITEM(sequence, k), out);
    Py_DECREF(sequence);
    return status;
}

typedef struct {
    PyObject *text;    /* the normalised source (owned) */
    PyObject *offsets; /* its offset map into the original (owned) */
    Text t;
} Normalised;

static int normalise(Examiner *self, PyObject *source, Normalised *out) {
    PyObject *normalised = PyObject_CallOneArg(self->objects[NORMALISE], source);
    if (normalised == NULL)
        return -1;
    out->text = PyObject_GetAttr(normalised, str_text);
    out->offsets = PyObject_GetAttr(normalised, str_offsets);
    Py_DECREF(normalised);
    if (out->text == NULL || out->offsets == NULL)
        return -1;
    if (!PyUnicode_Check(out->text)) {
        PyErr_SetString(PyExc_TypeError, "normalise gave a non-string text");
        return -1;
    }
    out->t = text_of(out->text);
    return 0;
}

static int offset_at(PyObject *offsets, Py_ssize_t index, Py_ssize_t *value) {
    PyObject *item = PySequence_GetItem(offsets, index);
    if (item == NULL)
        return -1;
    *value = PyLong_AsSsize_t(item);
    Py_DECREF(item);
    return (*value == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* rewards.text.NormalisedText.original_span. */
static int original_span(const Normalised *n, Py_ssize_t start, Py_ssize_t end,
                         Py_ssize_t *original_start, Py_ssize_t *original_end) {
    Py_ssize_t length = n->t.length, last, following;
    start = start < 0 ? 0 : (start > length ? length : start);
    end = end < start ? start : (end > length ? length : end);
    if (offset_at(n->offsets, start, original_start) < 0)
        return -1;
    if (end == start) {
        *original_end = *original_start;
        return 0;
    }
    if (offset_at(n->offsets, end - 1, &last) < 0 || offset_at(n->offsets, end, &following) < 0)
        return -1;
    *original_end = following > last ? following : last + 1;
    return 0;
}

static int exact_at(Fragment *fragment, Py_ssize_t found, int in_order) {
    fragment->similarity = 1.0;
    fragment->exact = fragment->aligned = 1;
    fragment->in_order = in_order;
    fragment->start = found;
    fragment->end = found + PyUnicode_GET_LENGTH(fragment->needle);
    return 0;
}

/* A number attribute of a rapidfuzz result (score a float, positions ints); -1 on failure. */
static int attribute_number(PyObject *object, PyObject *name, double *value) {
    PyObject *item = PyObject_GetAttr(object, name);
    int status = item == NULL ? -1 : as_double(item, value);
    Py_XDECREF(item);
    return status;
}

/* rewards.align._align_fragment: at or after `cursor`, exact first, fuzzy on a miss. */
static int align_fragment(Examiner *self, Fragment *fragment, const Normalised *n,
                          Py_ssize_t cursor) {
    Py_ssize_t found = PyUnicode_Find(n->text, fragment->needle, cursor, PY_SSIZE_T_MAX, 1);
    if (found >= 0)
        return exact_at(fragment, found, 1);
    Py_ssize_t earlier = found == -1 && cursor ? PyUnicode_Find(n->text, fragment->needle, 0,
                                                                PY_SSIZE_T_MAX, 1) : found;
    if (earlier == -2)
        return -1;
    if (earlier >= 0)
        return exact_at(fragment, earlier, 0);
    Py_ssize_t needle_length = PyUnicode_GET_LENGTH(fragment->needle);
    PyObject *arguments[3] = {
        PyUnicode_Substring(fragment->needle, 0, LIMIT(self, MAX_FUZZY_QUOTE_CHARS)),
        PyUnicode_Substring(n->text, cursor, cursor + LIMIT(self, MAX_FUZZY_SOURCE_CHARS)),
        PyFloat_FromDouble(100 * NUMBER(self, PARAPHRASE_THRESHOLD))};
    PyObject *result = NULL;
    if (arguments[0] && arguments[1] && arguments[2])
        result = PyObject_Vectorcall(self->objects[PARTIAL_RATIO_ALIGNMENT], arguments, 2,
                                     kwnames_score_cutoff);
    for (int k = 0; k < 3; k++)
        Py_XDECREF(arguments[k]);
    if (result == NULL)
        return -1;
    double score = 0.0, dest_start = 0.0, dest_end = 0.0;
    int status = result == Py_None ? 0 : attribute_number(result, str_score, &score);
    if (status == 0 && result != Py_None && score > 0)
        status = (attribute_number(result, str_dest_start, &dest_start) < 0 ||
                  attribute_number(result, str_dest_end, &dest_end) < 0) ? -1 : 0;
    Py_DECREF(result);
    if (status < 0 || score <= 0)
        return status; /* unaligned: similarity 0, in order */
    double reach = NUMBER(self, MAX_FUZZY_QUOTE_CHARS) / (double)(needle_length > 1 ? needle_length : 1);
    fragment->similarity = score / 100 * (reach < 1.0 ? reach : 1.0);
    fragment->aligned = 1;
    fragment->start = cursor + (Py_ssize_t)dest_start;
    fragment->end = cursor + (Py_ssize_t)dest_end;
    return 0;
}

typedef struct {
    double score;
    int exact, in_order, has_span, numbers_changed;
    Py_ssize_t span_start, span_end; /* in the original source */
    PyObject *text;                  /* the original source over the span (owned) */
} Alignment;

/* rewards.align._number_mismatches, as a yes/no: a number of the quote missing from the
 * aligned window (widened by the slack of an inexact alignment), or cut by an exact match. */
static int numbers_changed(Examiner *self, const Fragments *fragments, const Text *source,
                           int exact, double score, Py_ssize_t low, Py_ssize_t high) {
    Py_ssize_t total = 0;
    for (Py_ssize_t k = 0; k < fragments->count; k++) {
        const Fragment *f = &fragments->items[k];
        if (exact && f->aligned && cuts_number(source, f->start, f->end))
            return 1;
        total += PyUnicode_GET_LENGTH(f->needle);
    }
    if (exact)
        return 0;
    double looseness = NUMBER(self, NUMBER_SLACK) * (1 - score);
    Py_ssize_t slack = (Py_ssize_t)((looseness < 1.0 ? looseness : 1.0) * (double)total);
    Py_ssize_t start = word_start(source, low - slack > 0 ? low - slack : 0);
    Py_ssize_t end = word_end(source, high + slack < source->length ? high + slack : source->length);
    Py_ssize_t window_cursor = start, window_start = 0, window_end = 0;
    for (Py_ssize_t k = 0; k < fragments->count; k++) {
        Text needle = text_of(fragments->items[k].needle);
        Py_ssize_t cursor = 0, number_start, number_end;
        while (next_number(&needle, &cursor, needle.length, &number_start, &number_end)) {
            Py_ssize_t length = number_end - number_start;
            int found = 0;
            while (!found && next_number(source, &window_cursor, end, &window_start, &window_end))
                found = window_end - window_start == length &&
                        same_chars(&needle, number_start, source, window_start, length);
            if (!found)
                return 1;
        }
    }
    return 0;
}

/* rewards.align.align_fragments followed by _combine (fragments in order, exact or fuzzy). */
static int align_fragments(Examiner *self, Fragments *fragments, PyObject *source,
                           Normalised *n, Alignment *out) {
    Py_ssize_t cursor = 0, total = 0, low = PY_SSIZE_T_MAX, high = -1;
    double weighted = 0.0;
    int exact = 1, in_order = 1;
    for (Py_ssize_t k = 0; k < fragments->count; k++) {
        Fragment *f = &fragments->items[k];
        if (align_fragment(self, f, n, cursor) < 0)
            return -1;
        if (f->aligned) {
            low = f->start < low ? f->start : low;
            high = f->end > high ? f->end : high;
            if (f->in_order)
                cursor = f->end;
        }
        Py_ssize_t piece_length = PyUnicode_GET_LENGTH(f->piece);
        Py_ssize_t weight = piece_length > 1 ? piece_length : 1;
        total += weight;
        weighted += f->similarity * (double)weight;
        exact &= f->exact;
        in_order &= f->in_order;
    }
    out->score = weighted / (double)total;
    out->in_order = in_order;
    out->exact = 0;
    out->has_span = high >= 0;
    if (!out->has_span) {
        out->text = Py_NewRef(str_empty);
        return 0;
    }
    out->exact = exact;
    if (original_span(n, low, high, &out->span_start, &out->span_end) < 0)
        return -1;
    out->numbers_changed = numbers_changed(self, fragments, &n->t, exact, out->score, low, high);
    out->text = PyUnicode_Substring(source, out->span_start, out->span_end);
    return out->text == NULL ? -1 : 0;
}

/* ---- the sources holding the quote (rewards.citation._found_in) ---- */

static int contains_in_order(PyObject *haystack, const Fragments *fragments) {
    Py_ssize_t cursor = 0;
    for (Py_ssize_t k = 0; k < fragments->count; k++) {
        Py_ssize_t found = PyUnicode_Find(haystack, fragments->items[k].needle, cursor,
                                          PY_SSIZE_T_MAX, 1);
        if (found < 0)
            return found == -2 ? -1 : 0;
        cursor = found + PyUnicode_GET_LENGTH(fragments->items[k].needle);
    }
    return 1;
}

/* Where the first fragment next occurs in the join of the folded sources, from `from`. */
static int next_holder(PyObject *joined, PyObject *needle, Py_ssize_t from, Py_ssize_t *position) {
    *position = PyUnicode_Find(joined, needle, from, PY_SSIZE_T_MAX, 1);
    return *position == -2 ? -1 : 0;
}

/* Ids (1-based) of the sources other than `cited` whose folded text holds every fragment in
 * order (rewards.citation._found_in, with FoldedSources.containing finding the candidates). */
static PyObject *found_in(const Fragments *fragments, PyObject *folded, long long cited) {
    PyObject *found = PyList_New(0);
    if (found == NULL || fragments->count == 0)
        return found;
    PyObject *texts = PyObject_GetAttr(folded, str_texts);
    PyObject *joined = texts ? PyObject_GetAttr(folded, str_joined) : NULL;
    PyObject *starts = joined ? PyObject_GetAttr(folded, str_starts) : NULL;
    int status = starts ? 0 : -1;
    if (status == 0 && (!PyTuple_Check(texts) || !PyUnicode_Check(joined) || !PyTuple_Check(starts) ||
                        PyTuple_GET_SIZE(starts) < PyTuple_GET_SIZE(texts))) {
        PyErr_SetString(PyExc_TypeError, "folded sources of an unexpected shape");
        status = -1;
    }
    Py_ssize_t count = status == 0 ? PyTuple_GET_SIZE(texts) : 0, position = -1;
    if (count && next_holder(joined, fragments->items[0].needle, 0, &position) < 0)
        status = -1;
    while (status == 0 && position >= 0) {
        Py_ssize_t number = 0, start = 0; /* number: bisect_right(starts, position) */
        while (number < count && status == 0) {
            start = PyLong_AsSsize_t(PyTuple_GET_ITEM(starts, number));
            status = start == -1 && PyErr_Occurred() ? -1 : 0;
            if (start > position)
                break;
            number++;
        }
        int holds = status == 0 && number != cited;
        if (holds && fragments->count > 1) {
            PyObject *text = PyTuple_GET_ITEM(texts, number - 1);
            holds = PyUnicode_Check(text) ? contains_in_order(text, fragments) : 0;
            status = holds < 0 ? -1 : status;
        }
        if (status == 0 && holds > 0) {
            PyObject *id = PyLong_FromSsize_t(number);
            status = id == NULL || PyList_Append(found, id) < 0 ? -1 : 0;
            Py_XDECREF(id);
        }
        if (status < 0 || number == count)
            break;
        status = next_holder(joined, fragments->items[0].needle, start, &position);
    }
    Py_XDECREF(texts);
    Py_XDECREF(joined);
    Py_XDECREF(starts);
    if (status < 0)
        Py_CLEAR(found);
    return found;
}

/* The quote's key: its folded fragments joined by " (…) ". */
static PyObject *key_of(const Fragments *fragments) {
    PyObject *needles = PyList_New(fragments->count);
    if (needles == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < fragments->count; k++)
        PyList_SET_ITEM(needles, k, Py_NewRef(fragments->items[k].needle));
    PyObject *key = PyUnicode_Join(str_joiner, needles);
    Py_DECREF(needles);
    return key;
}

/* ---- the verdict (CitationReward._verdict and _inexact_verdict) ---- */

/* callable(*arguments) as a double (a rapidfuzz score or similarity); -1 with an exception. */
static int call_for_number(PyObject *callable, PyObject *const *arguments, size_t count,
                           PyObject *kwnames, double *value) {
    PyObject *result = PyObject_Vectorcall(callable, arguments, count, kwnames);
    int status = result == NULL ? -1 : as_double(result, value);
    Py_XDECREF(result);
    return status;
}

/* rewards.citation._may_reach: the LCS bound of partial_ratio reaches the threshold. */
static int may_reach(Examiner *self, PyObject *text, PyObject *other, double threshold) {
    Py_ssize_t a = PyUnicode_GET_LENGTH(text), b = PyUnicode_GET_LENGTH(other);
    double shortest = (double)(a < b ? a : b), common;
    if (shortest == 0)
        return 1;
    PyObject *arguments[2] = {text, other};
    if (call_for_number(self->objects[LCS_SIMILARITY], arguments, 2, NULL, &common) < 0)
        return -1;
    return 2 * common / (shortest + common) >= threshold - 1e-9; /* exact: small integers */
}

/* The query check of _inexact_verdict: 1 when the quote is closer to the query than to the
 * cited source. */
static int from_query(Examiner *self, PyObject *key, PyObject *query, double similarity) {
    double threshold = NUMBER(self, QUERY_THRESHOLD), ratio;
    if (PyUnicode_GET_LENGTH(query) == 0)
        return 0;
    int reach = may_reach(self, key, query, threshold);
    if (reach <= 0)
        return reach;
    PyObject *cutoff = PyFloat_FromDouble(100 * threshold);
    if (cutoff == NULL)
        return -1;
    PyObject *arguments[3] = {key, query, cutoff};
    int status = call_for_number(self->objects[PARTIAL_RATIO], arguments, 2, kwnames_score_cutoff,
                                 &ratio);
    Py_DECREF(cutoff);
    if (status < 0)
        return -1;
    ratio = ratio / 100;
    return ratio >= threshold && ratio > similarity;
}

/* CitationReward._dumped: far too long, or several sentences covering most of the source. */
static int dumped(Examiner *self, PyObject *raw_quote, Py_ssize_t words, const Alignment *a,
                  PyObject *source) {
    if ((double)words > NUMBER(self, MAX_QUOTE_WORDS))
        return 1;
    Text s = text_of(source);
    Py_ssize_t from = 0, to = s.length;
    strip_bounds(&s, &from, &to, NULL);
    double covered = (double)(a->span_end - a->span_start);
    if (!a->has_span || covered < NUMBER(self, DUMP_COVERAGE) * (double)(to - from))
        return 0;
    PyObject *breaks = PyObject_CallOneArg(self->objects[SENTENCE_BREAKS], raw_quote);
    if (breaks == NULL)
        return -1;
    Py_ssize_t count = PyObject_Length(breaks);
    Py_DECREF(breaks);
    if (count < 0)
        return -1;
    return (double)(count + 1) >= NUMBER(self, DUMP_MIN_SENTENCES);
}

/* The verdict of a quote of a valid source, and its score; NULL with an exception. */
static PyObject *verdict(Examiner *self, PyObject *raw_quote, PyObject *source,
                         const Fragments *fragments, PyObject *key, const Alignment *a,
                         Py_ssize_t found_count, PyObject *query, double *score) {
    Py_ssize_t words = 0, fewest = PY_SSIZE_T_MAX;
    for (Py_ssize_t k = 0; k < fragments->count; k++) {
        Text needle = text_of(fragments->items[k].needle);
        Py_ssize_t count = count_spaces(&needle) + 1;
        words += count;
        fewest = count < fewest ? count : fewest;
    }
    *score = 0.0;
    if (fragments->count == 0 || (double)words < NUMBER(self, MIN_QUOTE_WORDS) ||
        (fragments->count > 1 && (double)fewest < NUMBER(self, MIN_FRAGMENT_WORDS))) {
        *score = NUMBER(self, TOO_SHORT_SCORE);
        return verdict_strings[TOO_SHORT];
    }
    if (!a->in_order)
        return verdict_strings[OUT_OF_ORDER];
    if (a->exact) {
        if (a->numbers_changed)
            return verdict_strings[NUMBER_CHANGED];
        int dump = dumped(self, raw_quote, words, a, source);
        if (dump < 0)
            return NULL;
        *score = dump ? NUMBER(self, SOURCE_DUMP_SCORE) : 1.0;
        return verdict_strings[dump ? SOURCE_DUMP : fragments->count > 1 ? ELIDED : EXACT];
    }
    double similarity = a->score, fuzzy = NUMBER(self, FUZZY_THRESHOLD),
           paraphrase = NUMBER(self, PARAPHRASE_THRESHOLD);
    if (found_count && similarity < fuzzy)
        return verdict_strings[WRONG_SOURCE];
    int copied = from_query(self, key, query, similarity);
    if (copied != 0)
        return copied < 0 ? NULL : verdict_strings[QUERY_QUOTE];
    if (a->numbers_changed && similarity >= paraphrase)
        return verdict_strings[NUMBER_CHANGED];
    if (similarity >= fuzzy) {
        double gained = (similarity - fuzzy) / (1 - fuzzy), floor = NUMBER(self, FUZZY_FLOOR);
        *score = floor + (1 - floor) * gained;
        return str_fuzzy;
    }
    if (similarity >= paraphrase) {
        double gained = (similarity - paraphrase) / (fuzzy - paraphrase);
        *score = NUMBER(self, PARAPHRASE_CEILING) * gained;
        return str_paraphrase;
    }
    return str_fabricated;
}

/* ---- Pleias' Smith-Waterman measure (rewards.citation._sw_score) ----
 *
 * The reference compares the words of text.lower().split(). Here each distinct lowered word
 * gets an id (a Vocabulary shared by the quote and its window), so words are compared as
 * numbers and rapidfuzz aligns two strings of ids instead of two lists of words: the same
 * equalities, hence the same alignment. Lower-casing never makes or removes whitespace (checked
 * over all of Unicode in the tests) and its context rule (final sigma) stops at whitespace, so
 * lowering word by word equals lowering the whole text. */

typedef struct {
    Py_UCS4 *chars;       /* the distinct lowered words, end to end */
    Py_ssize_t *starts;   /* word k is chars[starts[k] .. starts[k + 1]) */
    Py_uhash_t *hashes;
    Py_ssize_t *slots;    /* open addressing on the hashes: word index + 1, 0 when empty */
    Py_ssize_t used, chars_capacity, count, hashes_capacity, starts_capacity, slot_count;
} Vocabulary;

static void free_vocabulary(Vocabulary *v) {
    PyMem_Free(v->chars);
    PyMem_Free(v->starts);
    PyMem_Free(v->hashes);
    PyMem_Free(v->slots);
}

/* Make room for `needed` items in *buffer (doubling); -1 with MemoryError. */
static int reserve(void **buffer, Py_ssize_t *capacity, Py_ssize_t needed, size_t item) {
    if (needed <= *capacity)
        return 0;
    Py_ssize_t wanted = *capacity ? *capacity : 16;
    while (wanted < needed)
        wanted *= 2;
    void *grown = PyMem_Realloc(*buffer, (size_t)wanted * item);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buffer = grown;
    *capacity = wanted;
    return 0;
}

static int rehash(Vocabulary *v) {
    Py_ssize_t count = v->slot_count ? v->slot_count * 2 : 64;
    Py_ssize_t *slots = PyMem_Calloc((size_t)count, sizeof(Py_ssize_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < v->count; k++) {
        Py_ssize_t slot = (Py_ssize_t)(v->hashes[k] & (Py_uhash_t)(count - 1));
        while (slots[slot])
            slot = (slot + 1) & (count - 1);
        slots[slot] = k + 1;
    }
    PyMem_Free(v->slots);
    v->slots = slots;
    v->slot_count = count;
    return 0;
}

/* Append the lowered word text[start:end] to v->chars (room for it is reserved) and fold it
 * into *hash. Below U+0100, str.lower() maps each character to the one Py_UNICODE_TOLOWER
 * gives (checked in the tests); a word with a character beyond is lowered by str.lower(). */
static int append_lowered(Vocabulary *v, PyObject *text, const Text *t, Py_ssize_t start,
                          Py_ssize_t end, Py_uhash_t *hash) {
    int narrow = 1; /* every character below U+0100 */
    for (Py_ssize_t i = start; i < end && narrow && t->kind != PyUnicode_1BYTE_KIND; i++)
        narrow = AT(t, i) < 256;
    if (narrow) {
        Py_UCS4 *out = v->chars + v->used;
        for (Py_ssize_t i = start; i < end; i++) {
            Py_UCS4 c = AT(t, i);
            c = c < 128 ? (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) : Py_UNICODE_TOLOWER(c);
            *out++ = c;
            *hash = (*hash ^ c) * 1099511628211ULL; /* FNV-1a */
        }
        v->used = out - v->chars;
        return 0;
    }
    PyObject *word = PyUnicode_Substring(text, start, end);
    PyObject *lowered = word ? PyObject_CallMethodNoArgs(word, str_lower) : NULL;
    Py_XDECREF(word);
    if (lowered == NULL)
        return -1;
    Text l = text_of(lowered);
    int status = reserve((void **)&v->chars, &v->chars_capacity, v->used + l.length, sizeof(Py_UCS4));
    for (Py_ssize_t i = 0; i < l.length && status == 0; i++) {
        Py_UCS4 c = AT(&l, i);
        v->chars[v->used++] = c;
        *hash = (*hash ^ c) * 1099511628211ULL;
    }
    Py_DECREF(lowered);
    return status;
}

/* The id of the word just appended at v->chars[from:used] with this hash: an earlier word's
 * (the append is dropped) or a new one; -1 on failure. */
static Py_ssize_t word_id(Vocabulary *v, Py_ssize_t from, Py_uhash_t hash) {
    if ((v->count + 1) * 2 > v->slot_count && rehash(v) < 0)
        return -1;
    Py_ssize_t length = v->used - from, slot = (Py_ssize_t)(hash & (Py_uhash_t)(v->slot_count - 1));
    for (; v->slots[slot]; slot = (slot + 1) & (v->slot_count - 1)) {
        Py_ssize_t k = v->slots[slot] - 1, start = v->starts[k];
        if (v->hashes[k] == hash && v->starts[k + 1] - start == length &&
            memcmp(v->chars + start, v->chars + from, (size_t)length * sizeof(Py_UCS4)) == 0) {
            v->used = from;
            return k;
        }
    }
    if (reserve((void **)&v->hashes, &v->hashes_capacity, v->count + 1, sizeof(Py_uhash_t)) < 0 ||
        reserve((void **)&v->starts, &v->starts_capacity, v->count + 2, sizeof(Py_ssize_t)) < 0)
        return -1;
    v->hashes[v->count] = hash;
    v->starts[v->count] = from;
    v->starts[v->count + 1] = v->used;
    v->slots[slot] = v->count + 1;
    return v->count++;
}

/* The ids of the first `limit` words of text.lower().split(): a PyMem array (NULL with an
 * exception on failure) and its length in *count. */
static Py_ssize_t *word_ids(Vocabulary *v, PyObject *text, Py_ssize_t limit, Py_ssize_t *count) {
    Text t = text_of(text);
    Py_ssize_t *ids = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(t.length / 2 + 1));
    if (ids == NULL)
        return (Py_ssize_t *)PyErr_NoMemory();
    /* every 1-byte word lowers to as many characters: room for the whole text at once */
    if (reserve((void **)&v->chars, &v->chars_capacity, v->used + t.length, sizeof(Py_UCS4)) < 0) {
        PyMem_Free(ids);
        return NULL;
    }
    *count = 0;
    for (Py_ssize_t i = 0; i < t.length && *count < limit;) {
        while (i < t.length && Py_UNICODE_ISSPACE(AT(&t, i)))
            i++;
        Py_ssize_t start = i, from = v->used;
        while (i < t.length && !Py_UNICODE_ISSPACE(AT(&t, i)))
            i++;
        if (i == start)
            break;
        Py_uhash_t hash = 14695981039346656037ULL;
        Py_ssize_t id = append_lowered(v, text, &t, start, i, &hash) < 0 ? -1 : word_id(v, from, hash);
        if (id < 0) {
            PyMem_Free(ids);
            return NULL;
        }
        ids[(*count)++] = id;
    }
    return ids;
}

/* rewards.citation._diagonal_score on word ids. */
static double diagonal_score(const Py_ssize_t *quote, const Py_ssize_t *window, Py_ssize_t count) {
    Py_ssize_t best = 0, running = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (quote[k] == window[k]) {
            running += 2;
            best = running > best ? running : best;
        } else if (running) {
            running -= 1;
        }
    }
    return (double)best / 2 / (double)count;
}

/* The string of code points `ids` (each below 0xD800: at most MAX_SW_*_WORDS distinct). */
static PyObject *id_string(const Py_ssize_t *ids, Py_ssize_t count) {
    Py_UCS4 *chars = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(count ? count : 1));
    if (chars == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t k = 0; k < count; k++)
        chars[k] = (Py_UCS4)ids[k];
    PyObject *string = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, chars, count);
    PyMem_Free(chars);
    return string;
}

/* The four positions of an opcode (tag, quote_start, quote_end, window_start, window_end) into
 * steps, and whether its tag is "equal"; -1 with an exception for an unexpected shape. */
static int read_opcode(PyObject *operation, long steps[4]) {
    if (!PyTuple_Check(operation) || PyTuple_GET_SIZE(operation) != 5 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(operation, 0))) {
        PyErr_SetString(PyExc_TypeError, "an opcode of an unexpected shape");
        return -1;
    }
    for (int field = 0; field < 4; field++)
        if ((steps[field] = PyLong_AsLong(PyTuple_GET_ITEM(operation, field + 1))) == -1 &&
            PyErr_Occurred())
            return -1;
    return PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(operation, 0), "equal") == 0;
}

/* The best stretch of rapidfuzz's word alignment path (rewards.align.fast_smith_waterman):
 * +2 per equal word, -1 per step of a run of other operations; -1.0 with an exception. */
static double path_score(Examiner *self, const Py_ssize_t *quote, Py_ssize_t quote_count,
                         const Py_ssize_t *window, Py_ssize_t window_count) {
    PyObject *arguments[2] = {id_string(quote, quote_count), NULL};
    arguments[1] = arguments[0] ? id_string(window, window_count) : NULL;
    PyObject *operations = NULL, *listed = NULL;
    if (arguments[1] != NULL)
        operations = PyObject_Vectorcall(self->objects[OPCODES], arguments, 2, NULL);
    if (operations != NULL)
        listed = PyObject_CallMethodNoArgs(operations, str_as_list);
    if (listed != NULL && !PyList_Check(listed))
        PyErr_SetString(PyExc_TypeError, "opcodes as_list did not give a list");
    int status = listed != NULL && PyList_Check(listed) ? 0 : -1;
    long best = 0, running = 0, steps[4];
    for (Py_ssize_t k = 0; status == 0 && k < PyList_GET_SIZE(listed); k++) {
        int equal = read_opcode(PyList_GET_ITEM(listed, k), steps);
        if (equal < 0) {
            status = -1;
            break;
        }
        long quote_steps = steps[1] - steps[0], window_steps = steps[3] - steps[2];
        if (equal) {
            running += 2 * quote_steps;
            best = running > best ? running : best;
        } else {
            running -= quote_steps > window_steps ? quote_steps : window_steps;
            running = running < 0 ? 0 : running;
        }
    }
    Py_XDECREF(arguments[0]);
    Py_XDECREF(arguments[1]);
    Py_XDECREF(operations);
    Py_XDECREF(listed);
    return status < 0 ? -1.0 : (double)best / 2 / (double)quote_count;
}

/* The word ids of a quote and of a window of its source, from one vocabulary. */
typedef struct {
    Vocabulary vocabulary;
    Py_ssize_t *quote, *window, quote_count, window_count;
} WordPair;

/* Fill `pair` with the first quote_limit / window_limit words' ids (free it with
 * free_word_pair in any case); -1 with an exception. */
static int word_pair(WordPair *pair, PyObject *quote, Py_ssize_t quote_limit, PyObject *window,
                     Py_ssize_t window_limit) {
    memset(pair, 0, sizeof *pair);
    pair->quote = word_ids(&pair->vocabulary, quote, quote_limit, &pair->quote_count);
    if (pair->quote != NULL)
        pair->window = word_ids(&pair->vocabulary, window, window_limit, &pair->window_count);
    return pair->window == NULL ? -1 : 0;
}

static void free_word_pair(WordPair *pair) {
    PyMem_Free(pair->quote);
    PyMem_Free(pair->window);
    free_vocabulary(&pair->vocabulary);
}

/* rewards.align.fast_smith_waterman (or smith_waterman when exact_sw); -1.0 with an exception. */
static double window_score(Examiner *self, PyObject *quote, PyObject *window) {
    double value;
    if (NUMBER(self, EXACT_SW) != 0) {
        PyObject *arguments[2] = {quote, window};
        int status = call_for_number(self->objects[SMITH_WATERMAN], arguments, 2, NULL, &value);
        return status < 0 ? -1.0 : value;
    }
    WordPair words;
    if (word_pair(&words, quote, LIMIT(self, MAX_SW_QUOTE_WORDS), window,
                  LIMIT(self, MAX_SW_SOURCE_WORDS)) < 0)
        value = -1.0;
    else if (words.quote_count == 0 || words.window_count == 0)
        value = 0.0;
    else
        value = path_score(self, words.quote, words.quote_count, words.window, words.window_count);
    free_word_pair(&words);
    return value;
}

/* The diagonal score of an exact quote whose words match the window's in number; -2.0 when
 * they do not (the caller aligns), -1.0 with an exception. */
static double exact_quote_score(PyObject *quote, PyObject *window) {
    WordPair words;
    double value;
    if (word_pair(&words, quote, PY_SSIZE_T_MAX, window, PY_SSIZE_T_MAX) < 0)
        value = -1.0;
    else if (words.quote_count != words.window_count)
        value = -2.0;
    else
        value = diagonal_score(words.quote, words.window, words.quote_count);
    free_word_pair(&words);
    return value;
}

/* _sw_score: the diagonal score of an exact quote, else the window score around the span. */
static double sw_score(Examiner *self, PyObject *quote, PyObject *source, const Alignment *a,
                       Py_ssize_t fragment_count) {
    if (a == NULL || !a->has_span)
        return window_score(self, quote, source);
    Text s = text_of(source);
    Py_ssize_t start = a->span_start, end = a->span_end;
    if (a->exact && fragment_count == 1) {
        int same = PyUnicode_Compare(a->text, quote);
        if (same == -1 && PyErr_Occurred())
            return -1.0;
        if (same == 0 && (start == 0 || Py_UNICODE_ISSPACE(AT(&s, start - 1))) &&
            (end == s.length || Py_UNICODE_ISSPACE(AT(&s, end))))
            return 1.0;
        PyObject *window = PyUnicode_Substring(source, word_start(&s, start), word_end(&s, end));
        double value = window ? exact_quote_score(quote, window) : -1.0;
        Py_XDECREF(window);
        if (value != -2.0)
            return value;
    }
    Py_ssize_t reach = PyUnicode_GET_LENGTH(quote) / 2;
    PyObject *window = PyUnicode_Substring(source, start - reach > 0 ? start - reach : 0, end + reach);
    if (window == NULL)
        return -1.0;
    double value = window_score(self, quote, window);
    Py_DECREF(window);
    return value;
}

/* ---- the examination ---- */

/* The cited id as a C number: 0 when it is None or out of any source's range. */
static int cited_id(PyObject *source_id, Py_ssize_t source_count, long long *cited, int *valid) {
    *cited = 0;
    *valid = 0;
    if (source_id == Py_None)
        return 0;
    if (!PyLong_Check(source_id)) {
        PyErr_SetString(PyExc_TypeError, "source_id must be an int or None");
        return -1;
    }
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(source_id, &overflow);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (overflow == 0) {
        *cited = value;
        *valid = 1 <= value && value <= source_count;
    } else {
        *cited = -1; /* no source has such an id */
    }
    return 0;
}

/* The _Examined tuple (a tuple subclass, filled as tuple.__new__ fills it); steals the items. */
static PyObject *examined(Examiner *self, PyObject **items, Py_ssize_t count) {
    PyTypeObject *type = (PyTypeObject *)self->objects[EXAMINED_TYPE];
    PyObject *result = NULL;
    int complete = 1;
    for (Py_ssize_t k = 0; k < count; k++)
        complete &= items[k] != NULL;
    if (complete)
        result = type->tp_alloc(type, count);
    for (Py_ssize_t k = 0; k < count; k++) {
        if (result != NULL)
            PyTuple_SET_ITEM(result, k, items[k]);
        else
            Py_XDECREF(items[k]);
    }
    return result;
}

static PyObject *examiner_examine(Examiner *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "examine(raw_quote, source_id, sources, folded_sources, folded_query)");
        return NULL;
    }
    PyObject *raw_quote = args[0], *source_id = args[1], *sources = args[2], *folded = args[3],
             *query = args[4];
    if (!PyUnicode_Check(raw_quote) || !PyTuple_Check(sources) || !PyUnicode_Check(query)) {
        PyErr_SetString(PyExc_TypeError, "examine: quote and query must be str, sources a tuple");
        return NULL;
    }
    long long cited;
    int valid;
    if (cited_id(source_id, PyTuple_GET_SIZE(sources), &cited, &valid) < 0)
        return NULL;
    PyObject *source = valid ? PyTuple_GET_ITEM(sources, cited - 1) : str_empty;
    if (!PyUnicode_Check(source)) {
        PyErr_SetString(PyExc_TypeError, "examine: sources must hold str");
        return NULL;
    }
    PyObject *quote = stripped(raw_quote);
    if (quote == NULL)
        return NULL;
    Fragments fragments = {NULL, 0};
    Normalised n = {NULL, NULL, {NULL, 0, NULL, 0}};
    Alignment a = {0.0, 0, 0, 0, 0, 0, 0, NULL};
    PyObject *items[8] = {NULL}, *found = NULL, *result = NULL;
    if (split_fragments(self, quote, &fragments) < 0)
        goto done;
    int aligned = valid && fragments.count > 0;
    if (aligned && (normalise(self, source, &n) < 0 ||
                    align_fragments(self, &fragments, source, &n, &a) < 0))
        goto done;
    if ((found = found_in(&fragments, folded, cited)) == NULL || (items[0] = key_of(&fragments)) == NULL)
        goto done;
    double score = 0.0, sw = 0.0;
    PyObject *said = Py_None;
    if (valid) {
        said = verdict(self, raw_quote, source, &fragments, items[0], aligned ? &a : NULL,
                       PyList_GET_SIZE(found), query, &score);
        if (said == NULL)
            goto done;
        sw = sw_score(self, quote, source, aligned ? &a : NULL, fragments.count);
        if (sw == -1.0 && PyErr_Occurred())
            goto done;
    }
    Text stripped = text_of(quote);
    items[1] = Py_NewRef(said);
    items[2] = PyFloat_FromDouble(score);
    items[3] = aligned && a.has_span ? Py_BuildValue("(nn)", a.span_start, a.span_end)
                                     : Py_NewRef(Py_None);
    items[4] = aligned ? PyUnicode_Substring(a.text, 0, LIMIT(self, MAX_DIAGNOSTIC_CHARS))
                       : Py_NewRef(str_empty);
    items[5] = PyList_AsTuple(found);
    items[6] = PyBool_FromLong(three_words(&stripped));
    items[7] = PyFloat_FromDouble(sw);
    result = examined(self, items, 8); /* steals every item */
    for (int k = 0; k < 8; k++)
        items[k] = NULL;
done:
    for (int k = 0; k < 8; k++)
        Py_XDECREF(items[k]);
    Py_XDECREF(found);
    free_fragments(&fragments);
    Py_XDECREF(n.text);
    Py_XDECREF(n.offsets);
    Py_XDECREF(a.text);
    Py_DECREF(quote);
    return result;
}

/* ---- judging every ref of an answer (CitationReward.judge_reference) ---- */

enum { KEY, VERDICT, SCORE, SPAN, ALIGNED_TEXT, FOUND_IN, LONG_ENOUGH, SW_SCORE, N_EXAMINED };

/* What _summaries adds up over the refs, and the first lowest score (a reference). */
typedef struct {
    double id_valid, long_enough, not_duplicated, sw_score, scores;
    Py_ssize_t exact, honest;
    PyObject *lowest;
    double lowest_value;
} Totals;

static int add_number(double *total, PyObject *number) {
    double value;
    if (as_double(number, &value) < 0)
        return -1;
    *total += value;
    return 0;
}

/* A new dict of `count` keys and values (the values stolen); NULL with an exception. */
static PyObject *dict_of(PyObject *const *keys, PyObject **values, int count) {
    PyObject *dict = PyDict_New();
    int status = dict ? 0 : -1;
    for (int k = 0; k < count; k++) {
        if (status == 0 && (values[k] == NULL || PyDict_SetItem(dict, keys[k], values[k]) < 0))
            status = -1;
        Py_XDECREF(values[k]);
    }
    if (status < 0)
        Py_CLEAR(dict);
    return dict;
}

static PyObject *ref_keys[9], *rag_keys[4], *metric_keys[6], *summary_keys[5], *diagnostic_keys[3];

/* The rag_eval dict of one ref, its measures added to the totals. */
static PyObject *ref_measures(PyObject *found, int duplicated, Totals *totals) {
    PyObject *verdict = PyTuple_GET_ITEM(found, VERDICT);
    PyObject *values[4] = {PyBool_FromLong(verdict != Py_None),
                           Py_NewRef(PyTuple_GET_ITEM(found, LONG_ENOUGH)),
                           PyBool_FromLong(!duplicated), Py_NewRef(PyTuple_GET_ITEM(found, SW_SCORE))};
    totals->id_valid += verdict != Py_None;
    totals->not_duplicated += !duplicated;
    if (add_number(&totals->long_enough, values[1]) < 0 || add_number(&totals->sw_score, values[3]) < 0) {
        for (int k = 0; k < 4; k++)
            Py_DECREF(values[k]);
        return NULL;
    }
    return dict_of(rag_keys, values, 4);
}

/* The verdict a ref gets in its place, and its score (both borrowed); the seen keys updated. */
static PyObject *verdict_in_place(Examiner *self, PyObject *citation, PyObject *found,
                                  PyObject *seen_quotes, PyObject **score) {
    PyObject *closed = PyObject_GetAttr(citation, str_closed);
    int is_closed = closed ? PyObject_IsTrue(closed) : -1;
    Py_XDECREF(closed);
    PyObject *key = PyTuple_GET_ITEM(found, KEY);
    int seen = is_closed < 0 ? -1 : PySet_Contains(seen_quotes, key);
    if (seen < 0 || PySet_Add(seen_quotes, key) < 0)
        return NULL;
    *score = zero;
    if (!is_closed)
        return str_unclosed;
    if (PyTuple_GET_ITEM(found, VERDICT) == Py_None)
        return str_invalid_id;
    if (seen) {
        *score = self->objects[DUPLICATE_SCORE];
        return str_duplicate;
    }
    *score = PyTuple_GET_ITEM(found, SCORE);
    return PyTuple_GET_ITEM(found, VERDICT);
}

/* Add a judged ref's verdict and score to the totals (the first lowest score is kept). */
static int count_verdict(Totals *totals, PyObject *said, PyObject *score) {
    if (!PyUnicode_Check(said)) {
        PyErr_SetString(PyExc_TypeError, "an examination's verdict must be a str or None");
        return -1;
    }
    double value;
    if (as_double(score, &value) < 0)
        return -1;
    totals->scores += value;
    if (totals->lowest == NULL || value < totals->lowest_value) {
        Py_XSETREF(totals->lowest, Py_NewRef(score));
        totals->lowest_value = value;
    }
    int exact = PyUnicode_CompareWithASCIIString(said, "exact") == 0 ||
                PyUnicode_CompareWithASCIIString(said, "elided") == 0;
    totals->exact += exact;
    totals->honest += exact || PyUnicode_CompareWithASCIIString(said, "fuzzy") == 0;
    return 0;
}

/* The stripped quote of a citation (a new reference), NULL with an exception. */
static PyObject *stripped_quote(PyObject *citation) {
    PyObject *raw = PyObject_GetAttr(citation, str_quote);
    if (raw == NULL || !PyUnicode_Check(raw)) {
        if (raw != NULL)
            PyErr_SetString(PyExc_TypeError, "a citation's quote must be a str");
        Py_XDECREF(raw);
        return NULL;
    }
    PyObject *quote = stripped(raw);
    Py_DECREF(raw);
    return quote;
}

/* The source id a ref's diagnostics show: its number, else what was written. */
static PyObject *shown_id(PyObject *citation) {
    PyObject *source_id = PyObject_GetAttr(citation, str_source_id);
    if (source_id != Py_None)
        return source_id;
    Py_DECREF(source_id);
    return PyObject_GetAttr(citation, str_raw_id);
}

/* CitationReward._judge: the diagnostics dict of the ref at `index`; the seen sets and the
 * totals updated. */
static PyObject *judge_ref(Examiner *self, Py_ssize_t index, PyObject *citation, PyObject *found,
                           PyObject *seen_quotes, PyObject *seen_raw, Totals *totals) {
    PyObject *score, *said = verdict_in_place(self, citation, found, seen_quotes, &score);
    PyObject *quote = said ? stripped_quote(citation) : NULL;
    int duplicated = quote ? PySet_Contains(seen_raw, quote) : -1;
    if (duplicated < 0 || PySet_Add(seen_raw, quote) < 0 || count_verdict(totals, said, score) < 0) {
        Py_XDECREF(quote);
        return NULL;
    }
    PyObject *span = PyTuple_GET_ITEM(found, SPAN);
    int has_span = PyObject_IsTrue(span);
    PyObject *values[9] = {
        PyLong_FromSsize_t(index), shown_id(citation),
        PyUnicode_Substring(quote, 0, LIMIT(self, MAX_DIAGNOSTIC_CHARS)), Py_NewRef(said),
        Py_NewRef(score),
        has_span > 0 ? PySequence_List(span) : has_span == 0 ? Py_NewRef(Py_None) : NULL,
        Py_NewRef(PyTuple_GET_ITEM(found, ALIGNED_TEXT)),
        PySequence_List(PyTuple_GET_ITEM(found, FOUND_IN)), ref_measures(found, duplicated, totals)};
    Py_DECREF(quote);
    return dict_of(ref_keys, values, 9);
}

/* The examination of a citation's quote: remembered in `examined`, else made by `examine`
 * and remembered while `examined` holds fewer than max_examined_quotes (a new reference). */
static PyObject *examination(Examiner *self, PyObject *citation, PyObject *examined,
                             PyObject *examine, PyObject *context) {
    PyObject *quote = PyObject_GetAttr(citation, str_quote);
    PyObject *source_id = quote ? PyObject_GetAttr(citation, str_source_id) : NULL;
    PyObject *key = source_id ? PyTuple_Pack(2, quote, source_id) : NULL;
    PyObject *found = key ? PyDict_GetItemWithError(examined, key) : NULL;
    if (found != NULL) {
        Py_INCREF(found);
    } else if (key != NULL && !PyErr_Occurred()) {
        PyObject *arguments[3] = {quote, source_id, context};
        found = PyObject_Vectorcall(examine, arguments, 3, NULL);
        if (found != NULL && (double)PyDict_GET_SIZE(examined) < NUMBER(self, MAX_EXAMINED_QUOTES) &&
            PyDict_SetItem(examined, key, found) < 0)
            Py_CLEAR(found);
    }
    Py_XDECREF(quote);
    Py_XDECREF(source_id);
    Py_XDECREF(key);
    if (found != NULL && (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != N_EXAMINED)) {
        PyErr_SetString(PyExc_TypeError, "an examination must be an _Examined");
        Py_CLEAR(found);
    }
    return found;
}

/* rewards.citation._summaries: the metrics and rag_eval dicts of `count` judged refs. */
static int summaries(const Totals *totals, Py_ssize_t count, PyObject **metrics, PyObject **rag_eval) {
    double refs = (double)count;
    double measures[4] = {totals->id_valid / refs, totals->long_enough / refs,
                          totals->not_duplicated / refs, totals->sw_score / refs};
    double rank = (measures[0] + measures[1] + measures[2] + measures[3]) / 4;
    PyObject *rag[5] = {PyFloat_FromDouble(measures[0]), PyFloat_FromDouble(measures[1]),
                        PyFloat_FromDouble(measures[2]), PyFloat_FromDouble(measures[3]),
                        PyFloat_FromDouble(rank)};
    PyObject *means[6] = {PyFloat_FromDouble(refs), PyFloat_FromDouble(measures[0]),
                          PyFloat_FromDouble((double)totals->exact / refs),
                          PyFloat_FromDouble((double)totals->honest / refs),
                          PyFloat_FromDouble(totals->scores / refs), PyFloat_FromDouble(rank)};
    *metrics = dict_of(metric_keys, means, 6);
    *rag_eval = dict_of(summary_keys, rag, 5);
    return *metrics && *rag_eval ? 0 : -1;
}

/* judge(citations, examined, examine, context) -> (score, diagnostics): CitationReward's
 * judge_reference for a non-empty list of citations. */
static PyObject *examiner_judge(Examiner *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyList_Check(args[0]) || PyList_GET_SIZE(args[0]) == 0 ||
        !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "judge(citations: non-empty list, examined: dict, examine, context)");
        return NULL;
    }
    PyObject *citations = args[0], *examined = args[1], *examine = args[2], *context = args[3];
    Totals totals = {0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, NULL, 0.0};
    PyObject *refs = PyList_New(0), *seen_quotes = PySet_New(NULL), *seen_raw = PySet_New(NULL);
    PyObject *metrics = NULL, *rag_eval = NULL, *result = NULL;
    int status = refs && seen_quotes && seen_raw ? 0 : -1;
    for (Py_ssize_t k = 0; status == 0 && k < PyList_GET_SIZE(citations); k++) {
        PyObject *citation = Py_NewRef(PyList_GET_ITEM(citations, k));
        PyObject *found = examination(self, citation, examined, examine, context);
        PyObject *ref = found ? judge_ref(self, k, citation, found, seen_quotes, seen_raw, &totals) : NULL;
        status = ref != NULL && PyList_Append(refs, ref) == 0 ? 0 : -1;
        Py_XDECREF(ref);
        Py_XDECREF(found);
        Py_DECREF(citation);
    }
    if (status == 0 && summaries(&totals, PyList_GET_SIZE(refs), &metrics, &rag_eval) == 0) {
        PyObject *values[3] = {Py_NewRef(refs), metrics, rag_eval};
        PyObject *diagnostics = dict_of(diagnostic_keys, values, 3); /* steals metrics, rag_eval */
        metrics = rag_eval = NULL;
        if (diagnostics != NULL)
            result = PyTuple_Pack(2, totals.lowest, diagnostics);
        Py_XDECREF(diagnostics);
    }
    Py_XDECREF(metrics);
    Py_XDECREF(rag_eval);
    Py_XDECREF(refs);
    Py_XDECREF(seen_quotes);
    Py_XDECREF(seen_raw);
    Py_XDECREF(totals.lowest);
    return result;
}

/* ---- the type ---- */

/* mapping[name] (borrowed), or NULL with a KeyError naming what lacks it. */
static PyObject *required(PyObject *mapping, const char *what, const char *name) {
    PyObject *value = PyDict_GetItemString(mapping, name);
    if (value == NULL)
        PyErr_Format(PyExc_KeyError, "Examiner: %s lacks %s", what, name);
    return value;
}

/* Examiner(numbers, objects): the settings (every name of number_names, as floats) and the
 * callables of the reference (every name of object_names). */
static int examiner_init(Examiner *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"numbers", "objects", NULL};
    PyObject *numbers, *objects;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!:Examiner", keywords, &PyDict_Type,
                                     &numbers, &PyDict_Type, &objects))
        return -1;
    for (int k = 0; k < N_NUMBERS; k++) {
        PyObject *value = required(numbers, "numbers", number_names[k]);
        if (value == NULL || as_double(value, &self->numbers[k]) < 0)
            return -1;
    }
    for (int k = 0; k < N_OBJECTS; k++) {
        PyObject *value = required(objects, "objects", object_names[k]);
        if (value == NULL)
            return -1;
        Py_XSETREF(self->objects[k], Py_NewRef(value));
    }
    if (!PyType_Check(self->objects[EXAMINED_TYPE]) ||
        !PyType_IsSubtype((PyTypeObject *)self->objects[EXAMINED_TYPE], &PyTuple_Type) ||
        !PyUnicode_Check(self->objects[WRAPPING_QUOTES])) {
        PyErr_SetString(PyExc_TypeError,
                        "Examiner: examined_type must be a tuple subclass, wrapping_quotes a str");
        return -1;
    }
    return 0;
}

static int examiner_traverse(Examiner *self, visitproc visit, void *arg) {
    for (int k = 0; k < N_OBJECTS; k++)
        Py_VISIT(self->objects[k]);
    return 0;
}

static int examiner_clear(Examiner *self) {
    for (int k = 0; k < N_OBJECTS; k++)
        Py_CLEAR(self->objects[k]);
    return 0;
}

static void examiner_dealloc(Examiner *self) {
    PyObject_GC_UnTrack(self);
    examiner_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef examiner_methods[] = {
    {"examine", (PyCFunction)(void (*)(void))examiner_examine, METH_FASTCALL,
     "examine(raw_quote, source_id, sources, folded_sources, folded_query) -> _Examined"},
    {"judge", (PyCFunction)(void (*)(void))examiner_judge, METH_FASTCALL,
     "judge(citations, examined, examine, context) -> (score, diagnostics)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ExaminerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rewards._quote.Examiner",
    .tp_basicsize = sizeof(Examiner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Quotes examined and refs judged as rewards.citation does it (see rewards/citation.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)examiner_init,
    .tp_traverse = (traverseproc)examiner_traverse,
    .tp_clear = (inquiry)examiner_clear,
    .tp_dealloc = (destructor)examiner_dealloc,
    .tp_methods = examiner_methods,
};

static struct PyModuleDef quote_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rewards._quote",
    .m_doc = "Native examination of one quote (the hot path of rewards.citation).",
    .m_size = -1,
};

static int intern_strings(void) {
    struct {
        PyObject **slot;
        const char *text;
    } strings[] = {
        {&str_lower, "lower"}, {&str_text, "text"},
        {&str_offsets, "offsets"}, {&str_score, "score"}, {&str_dest_start, "dest_start"},
        {&str_dest_end, "dest_end"}, {&str_joined, "joined"}, {&str_starts, "starts"},
        {&str_texts, "texts"}, {&str_as_list, "as_list"}, {&str_dots, "..."},
        {&str_joiner, " (\xe2\x80\xa6) "}, {&str_empty, ""}, {&str_fuzzy, "fuzzy"},
        {&str_paraphrase, "paraphrase"}, {&str_fabricated, "fabricated"},
        {&verdict_strings[TOO_SHORT], "too_short"}, {&verdict_strings[OUT_OF_ORDER], "out_of_order"},
        {&verdict_strings[NUMBER_CHANGED], "number_changed"},
        {&verdict_strings[SOURCE_DUMP], "source_dump"}, {&verdict_strings[ELIDED], "elided"},
        {&verdict_strings[EXACT], "exact"}, {&verdict_strings[WRONG_SOURCE], "wrong_source"},
        {&verdict_strings[QUERY_QUOTE], "query_quote"}, {&str_closed, "closed"},
        {&str_quote, "quote"}, {&str_source_id, "source_id"}, {&str_raw_id, "raw_id"},
        {&str_unclosed, "unclosed"}, {&str_invalid_id, "invalid_id"}, {&str_duplicate, "duplicate"}};
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
        if ((*strings[k].slot = PyUnicode_InternFromString(strings[k].text)) == NULL)
            return -1;
    struct {
        PyObject **keys;
        int count;
        const char *names[10];
    } key_sets[] = {
        {ref_keys, 9, {"index", "source_id", "quote", "verdict", "score", "aligned_span",
                       "aligned_text", "found_in", "rag_eval"}},
        {rag_keys, 4, {"id_valid", "long_enough", "not_duplicated", "sw_score"}},
        {metric_keys, 6, {"ref_count", "valid_id_rate", "exact_rate", "honest_rate",
                          "mean_ref_score", "rag_eval_mean"}},
        {summary_keys, 5, {"id_valid", "long_enough", "not_duplicated", "sw_score", "rag_rank"}},
        {diagnostic_keys, 3, {"refs", "metrics", "rag_eval"}}};
    for (size_t set = 0; set < sizeof key_sets / sizeof key_sets[0]; set++)
        for (int k = 0; k < key_sets[set].count; k++)
            if ((key_sets[set].keys[k] = PyUnicode_InternFromString(key_sets[set].names[k])) == NULL)
                return -1;
    kwnames_score_cutoff = Py_BuildValue("(s)", "score_cutoff");
    zero = PyFloat_FromDouble(0.0);
    return kwnames_score_cutoff == NULL || zero == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__quote(void) {
    if (intern_strings() < 0 || PyType_Ready(&ExaminerType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&quote_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObject(module, "Examiner", Py_NewRef((PyObject *)&ExaminerType)) < 0) {
        Py_DECREF((PyObject *)&ExaminerType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
