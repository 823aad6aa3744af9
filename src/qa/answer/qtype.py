"""What kind of short answer a question expects, from its wh-word and head noun.

"Which country …" → a place, "who" / "which singer" → a person, "which company" → an
organisation, "how many" → a number, "what percentage" → a percentage, "when" → a date, "what
song" → a title, "which seed" → a noun phrase about seeds. Plain regular expressions over the
question: no model is loaded to type a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The answer kinds, each with the spaCy (OntoNotes) entity labels that fit it. A pipeline with
# other labels still works: its entities then only count as noun phrases.
KINDS: dict[str, frozenset[str]] = {
    "person": frozenset({"PERSON"}),
    "place": frozenset({"GPE", "LOC", "FAC"}),
    "organisation": frozenset({"ORG"}),
    "group": frozenset({"NORP"}),
    "product": frozenset({"PRODUCT", "ORG"}),
    "title": frozenset({"WORK_OF_ART"}),
    "event": frozenset({"EVENT"}),
    "law": frozenset({"LAW"}),
    "language": frozenset({"LANGUAGE", "NORP"}),
    "number": frozenset({"CARDINAL", "QUANTITY"}),
    "money": frozenset({"MONEY"}),
    "percent": frozenset({"PERCENT"}),
    "quantity": frozenset({"QUANTITY", "CARDINAL", "MONEY", "PERCENT"}),
    "duration": frozenset({"DATE", "TIME", "QUANTITY"}),
    "date": frozenset({"DATE"}),
    "thing": frozenset(),  # any noun phrase; entities of any label compete
}

# head noun → kind (singular forms; a plural is reduced before the look-up)
_HEADS: dict[str, tuple[str, ...]] = {
    "person": (
        "person", "man", "woman", "boy", "girl", "singer", "rapper", "actor", "actress", "artist",
        "musician", "author", "writer", "novelist", "poet", "director", "filmmaker", "producer",
        "player", "quarterback", "pitcher", "athlete", "star", "politician", "president", "leader",
        "minister", "senator", "governor", "mayor", "lawmaker", "congressman", "congresswoman",
        "ceo", "executive", "founder", "billionaire", "entrepreneur", "judge", "justice",
        "candidate", "figure", "celebrity", "chef", "comedian", "host", "presenter", "journalist",
        "anchor", "scientist", "astronaut", "king", "queen", "prince", "princess", "royal", "pope",
        "coach", "manager", "golfer", "boxer", "footballer", "cricketer", "driver", "cyclist",
        "swimmer", "skier", "gymnast", "runner", "sprinter", "wrestler", "fighter", "model",
        "designer", "winner", "champion", "official", "spokesperson", "prosecutor", "lawyer",
        "attorney", "activist", "influencer", "youtuber", "investor", "economist", "doctor",
        "official", "dictator", "monarch", "emperor", "prime", "chancellor", "pianist",
        "guitarist", "drummer", "vocalist", "composer", "comic", "legend", "icon", "inventor",
        "explorer", "climber", "actor", "hero", "son", "daughter", "wife", "husband", "mother",
        "father", "suspect", "victim", "rookie", "captain", "referee", "commissioner", "secretary",
        "speaker", "representative", "diplomat", "ambassador", "general", "commander", "chairman",
        "chairwoman", "chair", "boss", "owner", "heir", "monarch", "whistleblower", "hacker",
        "republican", "democrat", "conservative", "tory", "dancer", "entertainer", "personality",
    ),
    "place": (
        "country", "nation", "state", "city", "town", "capital", "region", "province", "island",
        "continent", "county", "village", "place", "location", "territory", "area", "destination",
        "river", "sea", "ocean", "mountain", "lake", "volcano", "desert", "peninsula", "coast",
        "venue", "stadium", "arena", "airport", "bridge", "building", "landmark", "park",
        "neighborhood", "neighbourhood", "district", "borough", "port", "site", "resort", "prison",
        "palace", "museum", "street", "beach", "planet", "moon", "border", "kingdom", "republic",
        "emirate", "canton", "municipality",
    ),
    "organisation": (
        "company", "firm", "team", "club", "organization", "organisation", "agency", "bank",
        "brand", "retailer", "chain", "network", "airline", "automaker", "carmaker", "university",
        "school", "college", "party", "group", "band", "league", "union", "newspaper",
        "publication", "magazine", "channel", "broadcaster", "studio", "store", "restaurant",
        "nonprofit", "charity", "institution", "court", "department", "ministry", "committee",
        "startup", "manufacturer", "maker", "giant", "conglomerate", "lender", "insurer",
        "publisher", "label", "franchise", "outlet", "supermarket", "grocer", "exchange",
        "regulator", "government", "administration", "council", "parliament", "hospital",
        "militia", "army", "force", "service", "corporation", "business", "operator", "provider",
        "carrier", "developer", "owner", "streamer", "platform", "site", "website", "orchestra",
        "choir", "foundation", "charity", "cartel", "gang", "coalition", "alliance", "bloc",
    ),
    "product": (
        "app", "device", "phone", "smartphone", "car", "vehicle", "game", "product", "drug",
        "vaccine", "medication", "medicine", "software", "chatbot", "tool", "rocket",
        "spacecraft", "satellite", "telescope", "aircraft", "plane", "jet", "console", "gadget",
        "model", "robot", "toy", "weapon", "missile", "tank", "ship",
    ),
    "title": (
        "song", "film", "movie", "show", "series", "book", "novel", "album", "play", "musical",
        "painting", "podcast", "documentary", "title", "sitcom", "drama", "opera", "poem",
        "single", "track", "memoir", "franchise", "episode", "artwork", "sculpture",
    ),
    "event": (
        "event", "holiday", "festival", "tournament", "championship", "race", "storm",
        "hurricane", "war", "competition", "contest", "cup", "games", "olympics", "celebration",
        "ceremony", "summit", "conference", "election", "protest", "disaster", "earthquake",
        "cyclone", "typhoon", "marathon", "open", "awards", "show",
    ),
    "group": ("nationality", "religion", "ethnicity", "tribe", "faith"),
    "language": ("language", "dialect"),
    "law": ("law", "bill", "act", "treaty", "amendment", "agreement", "accord", "regulation", "rule"),
    "date": ("year", "date", "day", "month", "decade", "century", "season", "era"),
    "percent": ("percentage", "percent", "proportion", "share", "fraction", "rate"),
    "money": ("price", "cost", "amount", "sum", "fee", "salary", "fine", "worth", "value", "budget"),
    "number": ("number", "total", "count", "tally", "age"),
}
HEAD_KIND: dict[str, str] = {}
for _kind, _nouns in _HEADS.items():
    for _noun in _nouns:
        HEAD_KIND.setdefault(_noun, _kind)

_ENTITY_KINDS = frozenset({"person", "place", "organisation", "group", "product", "title", "event", "law", "language"})


@dataclass(frozen=True)
class QuestionType:
    """``kind`` (a key of KINDS), ``head`` the noun the question asks about ("country"; "" when
    none), ``wh`` the question word as written ("which", "how many", "who", "" when none)."""

    kind: str
    head: str = ""
    wh: str = ""

    @property
    def labels(self) -> frozenset[str]:
        """Entity labels that fit the expected answer (empty: any noun phrase)."""
        return KINDS[self.kind]

    @property
    def wants_entity(self) -> bool:
        return self.kind in _ENTITY_KINDS

    @property
    def wants_number(self) -> bool:
        return self.kind in ("number", "money", "percent", "quantity", "duration")

    @property
    def answerable(self) -> bool:
        """False for questions a short answer cannot answer from one span: "all of these
        except:", true or false."""
        return self.kind != "none"


_STOP_WORDS = frozenset(
    """is are was were be been being did does do has have had will would could can should may might
    must shall said says say recently reportedly just now currently still also already officially
    finally first this that these those last in on at of for to from with by as after before during
    about into over under between against than and or but not no it its he she they their his her
    we you i who which what whose whom when where why how there here""".split()
)
_MODIFIERS = frozenset(
    """the a an new former current popular famous major big small large other two three four five
    well-known high-profile top leading legendary iconic beloved prominent notable renowned
    professional annual national international global local european asian african american
    british english chinese russian us uk eu u.s u.k""".split()
)
_OF_HEADS = frozenset({"kind", "type", "sort", "form", "species", "breed", "brand", "name", "variety", "flavor", "flavour"})
_NONE = re.compile(
    r"\bexcept\b\s*[:?]?\s*$|\b(true or false|which of (these|the following)|all of (these|the following))\b"
    r"|(?:^|[.!?]\s+)why\b",
    re.I,
)
_WHEN = re.compile(
    r"(?:^|[.!?]\s+)when\b|\bby when\b|\bsince when\b|\bwhen\s*\?$"
    r"|\b(what|which) (year|date|day|month|decade)\b|\bon what (date|day)\b",
    re.I,
)
_HOW = [
    (re.compile(r"\bhow (?:many|much) (?:\w+ )?(?:times|days|weeks|months|years|hours|minutes|seconds|decades|centuries)\b", re.I), "duration"),
    (re.compile(r"\bhow many\b", re.I), "number"),
    (re.compile(r"\bhow much (?:money|did|does|do|will|would|has|have|is|was|are|were|cash|funding)\b", re.I), "money"),
    (re.compile(r"\bhow much\b", re.I), "quantity"),
    (re.compile(r"\bhow (?:long|old)\b", re.I), "duration"),
    (re.compile(r"\bhow (?:far|tall|high|deep|big|large|heavy|fast|strong|wide|hot|cold)\b", re.I), "quantity"),
    (re.compile(r"\bwhat (?:percentage|percent|proportion|share)\b|\bwhat per ?cent\b", re.I), "percent"),
    (re.compile(r"\bby how much\b", re.I), "quantity"),
]
_WH_WORD = re.compile(r"\b(which|what|whose)\s+", re.I)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z.'’-]*")
_WHO = re.compile(r"(?:^|[.!?,;:]\s*)(?:who|whom)\b|\b(?:who|whom)\s+(?:is|was|were|are|did|does|will|has|had|won|would|should|made|wrote|played|became)\b", re.I)
_WHERE = re.compile(r"\bwhere\b", re.I)
_INVARIANT = frozenset({"species", "series", "news", "politics", "physics", "economics", "athletics", "olympics", "games", "awards", "us"})


def singular(noun: str) -> str:
    n = noun.lower().replace("’", "'").removesuffix("'s").removesuffix("'")
    if n in _INVARIANT:
        return n
    for suffix, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x")):
        if n.endswith(suffix) and len(n) > len(suffix) + 2:
            return n[: -len(suffix)] + repl
    if n.endswith("s") and not n.endswith(("ss", "us", "is")) and len(n) > 3:
        return n[:-1]
    return n


def wh_head(question: str) -> tuple[str, str]:
    """(wh-word, head noun) of the first "which/what/whose + noun phrase" in ``question``: the
    words after the wh-word up to a verb, preposition or adverb; the head is the last of them
    that names a known kind, else the last ("which home goods chain recently said" → "chain"); a
    possessive ends the phrase ("which country's prime minister" → "country") and "kind of X",
    "species of X" read as X."""
    for m in _WH_WORD.finditer(question):
        words: list[str] = []
        prev_end = m.end()
        for t in _TOKEN.finditer(question, m.end()):
            between = question[prev_end : t.start()]
            if any(ch in between for ch in ",;:?!()\"“”"):
                break
            w = t.group(0)
            low = w.lower().rstrip(".")
            prev_end = t.end()
            if low in _STOP_WORDS and not (low == "of" and words and words[-1].lower() in _OF_HEADS):
                break
            if low.endswith("ly") and len(low) > 4 or (low.endswith("ed") and len(low) > 4 and words):
                break
            if low == "of":
                words = []
                continue
            words.append(w)
            if w.endswith(("'s", "’s", "s'", "s’")) or len(words) >= 5:
                break
        nouns = [singular(w) for w in words if w.lower().rstrip(".") not in _MODIFIERS]
        if not nouns:
            continue
        known = [n for n in nouns if n in HEAD_KIND]
        return m.group(1).lower(), (known[-1] if known else nouns[-1])
    return "", ""


def question_type(question: str) -> QuestionType:
    q = " ".join(question.split())
    if _NONE.search(q):
        return QuestionType("none")
    for pattern, kind in _HOW:
        m = pattern.search(q)
        if m:
            return QuestionType(kind, wh=m.group(0).lower())
    if _WHEN.search(q):
        return QuestionType("date", wh="when")
    wh, head = wh_head(q.replace("U.S.", "US").replace("U.K.", "UK"))
    if head:
        return QuestionType(HEAD_KIND.get(head, "thing"), head=head, wh=wh)
    if _WHO.search(q):
        return QuestionType("person", wh="who")
    if _WHERE.search(q):
        return QuestionType("place", wh="where")
    if re.search(r"\b(what|which)\b", q, re.I):
        return QuestionType("thing", wh="what")
    return QuestionType("thing")
