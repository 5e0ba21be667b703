"""Word lists of the eight supported languages (en fr de it es pl pt la), folded (lower case).

What a quote may not leave out (:data:`MEANING_WORDS`, :data:`NUMBER_WORDS`) and what carries no
claim by itself (:data:`FUNCTION_WORDS` per language, :data:`ANY_FUNCTION_WORD` in any): read by the citation reward's evidence checks
(:mod:`pleias_rl.rewards.evidence`) and by :func:`pleias_rl.data.targets.elide_sentence`.

>>> "not" in NEGATIONS and "nicht" in NEGATIONS and "only" in MEANING_WORDS
True
>>> {"the", "der", "het"} <= ANY_FUNCTION_WORD, "het" in FUNCTION_WORDS["nl"]
(False, True)
"""

from __future__ import annotations

NEGATIONS: frozenset[str] = frozenset("""
not no never neither nor none nobody nothing nowhere cannot without n't
ne pas non jamais aucun aucune rien personne ni sans guère nul nulle
nicht kein keine keinen keinem keiner keines nie niemals nichts niemand weder ohne
mai nessuno nessuna niente nulla né senza
nunca jamás ninguno ninguna ningún nada nadie sin tampoco
nie nigdy żaden żadna żadne żadnego nic nikt ani bez
não nenhum nenhuma ninguém nem sem
nec neque nihil nemo numquam nunquam nullus haud
""".split())
"""Negations of en fr de it es pl pt la (folded)."""

NARROWING: frozenset[str] = frozenset("""
only except excluding almost nearly partly partially formerly former allegedly reportedly
supposedly rarely seldom hardly barely scarcely unless less fewer
seulement sauf excepté presque ancien ancienne anciens partiellement prétendument
nur außer ausser kaum ehemalig ehemalige ehemaliger ehemaligen teilweise angeblich
soltanto tranne eccetto quasi parzialmente presunto
sólo solamente excepto salvo casi antiguo antigua parcialmente supuestamente
tylko jedynie oprócz prawie były była byłe częściowo rzekomo
só apenas exceto quase antigo supostamente
tantum solum modo praeter paene vix quondam
""".split())
"""Qualifiers whose removal flips or narrows a claim (folded)."""

NUMBER_WORDS: frozenset[str] = frozenset("""
million millions billion billions thousand thousands hundred hundreds percent
milliard milliards mille millionen milliarde milliarden tausend hundert prozent
milione milioni miliardo miliardi mila millón millones milion miliony milionów miliard tysiąc
tysięcy procent milhão milhões bilhão
one two three four five six seven eight nine ten twelve twenty first second third
deux trois quatre cinq sept huit neuf dix premier première
zwei drei vier fünf sechs sieben acht neun zehn erste
tre quattro cinque sette otto nove dieci primo
dos tres cuatro cinco seis siete ocho nueve diez primero primera
dwa trzy cztery pięć sześć siedem osiem dziewięć dziesięć pierwszy
dois três quatro oito nove dez
duo quattuor quinque septem octo novem decem primus
""".split())
"""Number words and scales (folded); a number is also any word with a digit."""

MEANING_WORDS: frozenset[str] = NEGATIONS | NARROWING
"""What an elision may not remove anywhere (numbers: at its edges, see :func:`meaning_dropped`)."""

WORD_LIST_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "it", "es", "pl", "pt", "la")
"""The languages every list here covers (the eight supported row languages)."""

FUNCTION_WORDS: dict[str, frozenset[str]] = {code: frozenset(words.split()) for code, words in {
    "en": "a an the and or but of in on at to for from by with as is are was were be been being has "
          "have had do does did it its this that these those he she they we you i his her their our "
          "your him them who whom which what when where why how than then there here also into onto "
          "about after before over under between through during while if so such can could will "
          "would shall should may might must not no am s",
    "fr": "le la les l un une des du de d et ou mais à au aux en dans sur par pour avec est sont "
          "était étaient été a ont il elle ils elles on ce cet cette ces qui que qu dont où se sa son "
          "ses leur leurs y ne pas plus",
    "de": "der die das den dem des ein eine einen einem einer eines und oder aber in im an am auf "
          "aus bei zu zum zur von vom mit für ist sind war waren wurde wurden hat haben er sie es wir "
          "sich sein seine ihr ihre als auch nicht dass wie",
    "it": "il lo la i gli le un uno una di del della dei delle a al alla da dal in nel nella e o ma "
          "con per su non è sono era erano fu ha hanno che chi si suo sua suoi loro come anche",
    "es": "el la los las un una unos unas de del a al en y o pero con por para no es son era eran "
          "fue ha han que quien se su sus lo como también",
    "pl": "i a w we z ze na do od o po przez dla nie jest są był była było byli się to ten ta te "
          "tego jego jej ich że jak który która które też także ale",
    "pt": "o a os as um uma uns umas de do da dos das em no na nos nas por para com e ou mas não é "
          "são era eram foi tem têm que se seu sua seus suas como também",
    "la": "et in ad cum de ex e a ab per non est sunt erat fuit esse qui quae quod sed ut ac atque "
          "nec neque se sua suus eius hic haec hoc ille illa",
    "nl": "de het een van in op aan met voor door bij uit en of maar niet is zijn was waren werd "
          "heeft hebben hij zij ze het die dat deze dit als ook",
}.items()}
"""The commonest function words of each language the detector knows (folded): padding an answer
with them must not make a foreign answer pass (:func:`pleias_rl.data.language.content_words`)."""

ANY_FUNCTION_WORD: frozenset[str] = frozenset().union(*(FUNCTION_WORDS[code] for code in WORD_LIST_LANGUAGES))
"""Words that carry no claim by themselves in any of :data:`WORD_LIST_LANGUAGES` (a quote's
language is not known: the evidence checks read this union)."""
