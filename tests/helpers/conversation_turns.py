"""Hand-written conversations: what the user says, the standalone question a person would write
for it, what qa answered (the words a later turn can refer back to) and the date that answer is
about. Written for this repo, about its samples and the seed story's kind of news; no sentence is
copied from ../shared/seed.

A turn is (kind, says, standalone a person would write, answer text, (ISO date, label) of the
answer's event). ``kind``: opener, pronoun, reference (to a thing said before), what-about
(another subject in the same frame), narrow (a sub-topic of the previous answer), time-shift
(before/after that, another month or year), new-topic (starts fresh: no inherited name or date).

A rewrite passes a turn when it keeps every name and date of the expected standalone question and
brings in no name or date of the conversation that the expected question leaves out
(``judge``): the form is free, the entities and dates are not.
"""

from __future__ import annotations

import calendar
import re

SAT_NOV = ("2025-11-15", "Saturday 15 November 2025")
OCT = ("2025-10-01", "October 2025")
AUG = ("2025-08-01", "August 2025")
SAT_MAR = ("2025-03-08", "Saturday 8 March 2025")
FEB = ("2025-02-01", "February 2025")
JAN = ("2025-01-01", "January 2025")
STORM = ("2025-03-01", "Saturday 1 March 2025")
RATE = ("2025-03-06", "Thursday 6 March 2025")
MUSEUM = ("2025-03-05", "Wednesday 5 March 2025")
TRAM = ("2025-03-03", "Monday 3 March 2025")
CUP = ("2025-03-02", "Sunday 2 March 2025")
Y2024 = ("2024-01-01", "2024")
NONE: tuple[None, None] = (None, None)

Turn = tuple[str, str, str, str, tuple]

CONVERSATIONS: list[list[Turn]] = [
    [  # leaders' calls: references, pronouns, sub-topics, before that, another pair of leaders
        ("opener", "When did Putin and Netanyahu last speak?", "When did Putin and Netanyahu last speak?",
         "On Saturday 15 November 2025 [1]: Putin and Netanyahu discussed the Middle East in a phone call on Saturday. [1]", SAT_NOV),
        ("reference", "Who asked for the call?", "Who asked for the call between Putin and Netanyahu on Saturday 15 November 2025?",
         "The conversation took place at the Russian leader's request, the office said. [1]", SAT_NOV),
        ("pronoun", "What did they discuss?", "What did Putin and Netanyahu discuss on Saturday 15 November 2025?",
         "The two focused on the ceasefire in Gaza. [1] They also discussed Iran's nuclear program and Syria. [2]", SAT_NOV),
        ("narrow", "What about Syria?", "What did Putin and Netanyahu discuss about Syria on Saturday 15 November 2025?",
         "They discussed stabilisation efforts in Syria. [1]", SAT_NOV),
        ("time-shift", "And before that?", "What did Putin and Netanyahu discuss about Syria before Saturday 15 November 2025?",
         "Their conversation last month also covered Iran and Syria. [1]", OCT),
        ("time-shift", "And before that?", "What did Putin and Netanyahu discuss about Syria before October 2025?",
         "Before October, the two had spoken by phone in August. [1]", AUG),
        ("new-topic", "When did Varga and Hale last speak?", "When did Varga and Hale last speak?",
         "On Saturday 8 March 2025 [1]: Varga and Hale held a phone call on Saturday. [1]", SAT_MAR),
        ("reference", "Who asked for the call?", "Who asked for the call between Varga and Hale on Saturday 8 March 2025?",
         "The call took place at Westmark's request. [1]", SAT_MAR),
        ("pronoun", "How long did it last?", "How long did the call between Varga and Hale on Saturday 8 March 2025 last?",
         "The conversation lasted about forty minutes. [1]", SAT_MAR),
        ("what-about", "What about Putin and Netanyahu?", "How long did the call between Putin and Netanyahu last?",
         "The article does not say how long it lasted.", SAT_NOV),
    ],
    [  # the same frame, another subject; fresh topics that must not inherit the date
        ("opener", "When did Putin and Netanyahu last speak?", "When did Putin and Netanyahu last speak?",
         "On Saturday 15 November 2025 [1]: the two spoke by phone on Saturday. [1]", SAT_NOV),
        ("what-about", "What about Varga and Hale?", "When did Varga and Hale last speak?",
         "On Saturday 8 March 2025 [1]: Varga and Hale held a phone call. [1]", SAT_MAR),
        ("time-shift", "And before that?", "When did Varga and Hale last speak before Saturday 8 March 2025?",
         "Varga and Hale previously spoke by phone last month. [1]", FEB),
        ("pronoun", "What did they agree then?", "What did Varga and Hale agree in February 2025?",
         "They agreed to set up a joint commission on the dam. [1]", FEB),
        ("reference", "Who sits on the commission?", "Who sits on the commission Varga and Hale agreed in February 2025?",
         "The readout does not name its members.", FEB),
        ("new-topic", "How many homes lost power in Storm Ilse?", "How many homes lost power in Storm Ilse?",
         "About 80,000 homes were left without electricity on Saturday morning. [1]", STORM),
        ("reference", "When was power restored?", "When was power restored after Storm Ilse?",
         "Crews had restored power to half of the affected homes by midday. [1]", STORM),
        ("reference", "Were the ferries cancelled?", "Were the ferries cancelled in Storm Ilse on Saturday 1 March 2025?",
         "Ferries to the outer islands were cancelled for a second day. [1]", STORM),
        ("new-topic", "Who won the national cup?", "Who won the national cup?",
         "No answer was found in the indexed articles.", NONE),
        ("new-topic", "What did the central bank decide?", "What did the central bank decide?",
         "The central bank lowered its main interest rate to 2.75 percent on Thursday. [1]", RATE),
    ],
    [  # a central bank: shifts by month, references, a person named in an answer, another story
        ("opener", "What did the central bank decide in March?", "What did the central bank decide in March?",
         "The central bank lowered its main interest rate to 2.75 percent on Thursday. [1]", RATE),
        ("time-shift", "What about in June?", "What did the central bank decide in June?",
         "The bank signalled that it could cut again in June. [1]", ("2025-06-01", "June 2025")),
        ("time-shift", "And in January?", "What did the central bank decide in January?",
         "No answer was found in the indexed articles.", NONE),
        ("reference", "Why did the bank cut the rate?", "Why did the central bank cut the rate?",
         "Inflation had fallen to 2.1 percent in February. [1]", FEB),
        ("pronoun", "Who is its governor?", "Who is the central bank's governor?",
         "Governor Lise Hammar said inflation had fallen. [1]", RATE),
        ("pronoun", "What did she say about wages?", "What did Lise Hammar say about wages on Thursday 6 March 2025?",
         "The bank could cut again if wage growth keeps easing. [1]", RATE),
        ("new-topic", "When did the museum reopen its east wing?", "When did the museum reopen its east wing?",
         "On Wednesday 5 March 2025 [1]: the museum reopened its east wing. [1]", MUSEUM),
        ("reference", "How much did the renovation cost?", "How much did the renovation of the museum's east wing cost?",
         "The renovation cost 12 million. [1]", MUSEUM),
        ("time-shift", "And after that?", "What happened at the museum after Wednesday 5 March 2025?",
         "No answer was found in the indexed articles.", NONE),
        ("new-topic", "When did Storm Gorm hit?", "When did Storm Gorm hit?",
         "In November 2023 [1]: Storm Gorm damaged the Lindholm bridge. [1]", ("2023-11-01", "November 2023")),
    ],
    [  # follow-up openers ("and", "so"), possessives, sub-topics, a year shift, a new story
        ("opener", "What did Hale raise with Varga?", "What did Hale raise with Varga?",
         "Hale raised the case of three Westmark engineers detained in Norland since January. [1]", SAT_MAR),
        ("new-topic", "And what did Varga promise?", "What did Varga promise?",
         "Varga promised a consular visit within days. [1]", SAT_MAR),
        ("reference", "When were the engineers detained?", "When were the engineers detained?",
         "The engineers have been detained in Norland since January. [1]", JAN),
        ("pronoun", "What did he say about the dam?", "What did Varga say about the dam on Saturday 8 March 2025?",
         "The leaders focused on water releases from the Orvik dam. [1]", SAT_MAR),
        ("narrow", "And the Kessel crossing?", "What did Varga say about the Kessel crossing on Saturday 8 March 2025?",
         "They focused on reopening the Kessel border crossing to freight. [1]", SAT_MAR),
        ("new-topic", "How far did trade between Norland and Westmark fall?", "How far did trade between Norland and Westmark fall?",
         "Trade between the neighbours fell by a fifth last year. [1]", Y2024),
        ("pronoun", "Who reported their figures?", "Who reported Norland and Westmark's trade figures for 2024?",
         "Figures came from Norland's statistics office. [1]", Y2024),
        ("time-shift", "What about in 2023?", "How far did trade between Norland and Westmark fall in 2023?",
         "No answer was found in the indexed articles.", NONE),
        ("new-topic", "Is the tram line in Riverside open?", "Is the tram line in Riverside open?",
         "The Riverside tram line opened on Monday. [1]", TRAM),
        ("pronoun", "How many people used it?", "How many people used the Riverside tram line on Monday 3 March 2025?",
         "About 20,000 passengers rode it in the first week. [1]", TRAM),
        ("new-topic", "So when did Putin and Netanyahu speak?", "When did Putin and Netanyahu speak?",
         "On Saturday 15 November 2025 [1]: they spoke by phone. [1]", SAT_NOV),
        ("pronoun", "Where was Netanyahu then?", "Where was Netanyahu on Saturday 15 November 2025?",
         "The article does not say.", NONE),
    ],
    [  # "they" after a "who" question is the answer; "what about X?" on another story starts fresh
        ("opener", "Who won the national cup?", "Who won the national cup?",
         "On Sunday 2 March 2025 [1]: Port Athletic won the national cup, beating Vale Rovers 4-3 on penalties. [1]", CUP),
        ("pronoun", "And who did they beat?", "Who did Port Athletic beat in the national cup on Sunday 2 March 2025?",
         "Port Athletic beat Vale Rovers 4-3 on penalties after a 1-1 draw. [1]", CUP),
        ("new-topic", "What about the storm?", "What about the storm?",
         "On Saturday 1 March 2025 [1]: Storm Ilse left about 80,000 homes without electricity. [1]", STORM),
        ("reference", "How many homes lost power?", "How many homes lost power in the storm on Saturday 1 March 2025?",
         "About 80,000 homes were left without electricity. [1]", STORM),
    ],
    [  # a thing is not another pair of leaders: "what about the storm?" does not replace Varga and Hale
        ("opener", "When did Varga and Hale last speak?", "When did Varga and Hale last speak?",
         "On Saturday 8 March 2025 [1]: Varga and Hale held a phone call on Saturday. [1]", SAT_MAR),
        ("new-topic", "What about the storm?", "What about the storm?",
         "On Saturday 1 March 2025 [1]: Storm Ilse left about 80,000 homes without electricity. [1]", STORM),
        ("reference", "How many homes lost power?", "How many homes lost power in the storm on Saturday 1 March 2025?",
         "About 80,000 homes were left without electricity. [1]", STORM),
        ("new-topic", "What did the central bank decide?", "What did the central bank decide?",
         "The central bank lowered its main interest rate to 2.75 percent on Thursday. [1]", RATE),
        ("what-about", "And the storm?", "And the storm?",
         "On Saturday 1 March 2025 [1]: Storm Ilse left about 80,000 homes without electricity. [1]", STORM),
    ],
]

_MONTHS = {m for m in calendar.month_name if m}
_DAYS = {d for d in calendar.day_name}
_DATE = re.compile(r"\b(?:\d{1,2} )?(?:%s) \d{4}\b|\b(?:19|20)\d\d\b" % "|".join(sorted(_MONTHS)))
_NOT_NAMES = {"When", "What", "Who", "Where", "Why", "How", "Which", "Did", "Is", "Were", "Was", "And", "So", "The"}


def entities(text: str) -> set[str]:
    """The names (capitalised words other than question words, months and days) and the dates
    (day month year, month year, year) of a question, as a checker independent of qa's rule."""
    dates = set(_DATE.findall(text))
    rest = _DATE.sub(" ", text)
    names = {w.strip("?,.'’s").removesuffix("'s") for w in re.findall(r"\b[A-Z][\w'’]*", rest)}
    return dates | {n for n in names if n and n not in _NOT_NAMES | _MONTHS | _DAYS}


def judge(conversation: list[Turn], i: int, rewritten: str) -> str | None:
    """None when ``rewritten`` passes turn ``i``, else what is wrong."""
    expected = conversation[i][2]
    keep = entities(expected)
    earlier = set()
    for _, _, standalone, _, (_, label) in conversation[:i]:
        earlier |= entities(standalone) | ({label} if label else set())
    got = entities(rewritten)
    missing = sorted(k for k in keep if k.lower() not in rewritten.lower())
    brought = sorted(e for e in earlier - keep if e in got)
    if conversation[i][0] == "new-topic":  # starts fresh: no word of an earlier question either
        said = _words(conversation[i][1]) | _words(expected)
        before = set().union(*(_words(turn[2]) for turn in conversation[:i]))
        brought += sorted((_words(rewritten) - said) & before)
    if missing or brought:
        return f"missing {missing}, brought in {brought}"
    return None


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


def turns() -> list[tuple[int, int]]:
    return [(c, t) for c, conv in enumerate(CONVERSATIONS) for t in range(len(conv))]
