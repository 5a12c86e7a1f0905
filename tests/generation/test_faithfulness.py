"""The faithfulness gate, on the unfaithful sentences issue 12 reports (each must fail, with a reason an
attorney can act on) and on their faithful counterparts (each must pass)."""

from __future__ import annotations

from typing import Any

import pytest

from generation.faithfulness import (
    check_fact,
    check_sentence,
    client_names,
    find_dates,
    settled_actor,
    settled_pieces,
)

RECORD = (
    "Client: Maria Elena Ramírez López (aliases: Maria Lopez, Elena Ramirez); born April 12, 1990; "
    "country: Guatemala; immigration status: none\n"
    "Abuser: Daniel Hayes; immigration status: U.S. citizen\n"
    "Child: Sofia Hayes; born 2019-02-03"
)
INTAKE = (
    "Client states she met Daniel Hayes in March 2015 at a church picnic in Houston. They married on June 10, "
    "2017 at the Harris County courthouse. In 2018 we moved to Pasadena, Texas. Daniel is a U.S. citizen."
)
POLICE = (
    "On September 5, 2021 a neighbour, Linda Park, called the police. Officer J. Ruiz arrived. Daniel Hayes "
    "stated that the victim fell. The victim had bruising on her left wrist; Daniel injured her wrist."
)
ORDER = "On October 1, 2021 the Harris County court granted a protective order against Daniel Hayes."
THERAPIST = "Dr. Ana Ortiz diagnosed her with major depressive disorder in 2022 and has treated her since."
MESSAGES = "Daniel: where are you\n10:42 PM\nMaria: at work\nDaniel: come home now or you will regret it"
CONTACT = "Client phone: 713-555-0143 Email: maria.lopez@example.com"


def fact(text: str, actor: str, n: int = 1) -> dict[str, Any]:
    return {"id": f"F{n}", "n": n, "text": text, "actor": actor, "source": "evidence"}


MET = fact("She met Daniel Hayes in March 2015 at a church picnic in Houston", "client")
MARRIED = fact("They married on June 10, 2017", "client")
CITIZEN = fact("Daniel is a U.S. citizen", "abuser")
WRIST = fact("Daniel injured her wrist", "abuser")
FELL = fact("Daniel Hayes stated that the victim fell", "abuser")
GRANTED = fact("The court granted a protective order on October 1, 2021", "court")
NEIGHBOUR = fact("A neighbour called the police on September 5, 2021", "witness")
DIAGNOSED = fact("Dr. Ortiz diagnosed her with major depressive disorder", "medical")
TEXTED = fact("Daniel texted: come home now or you will regret it", "abuser")
PHONE = fact("Client phone 713-555-0143", "client")

# The issue's sentences, and why each must go.
UNFAITHFUL = [
    ("Daniel Hayes raped me at the church picnic in Houston.", MET, INTAKE, 'alleges rape ("raped")'),
    ("My cousin Rosa Hayes came to our wedding.", MARRIED, INTAKE, '"Rosa Hayes" is not in its sources'),
    ("I married Daniel Hayes on June 10, 2018.", MARRIED, INTAKE, 'the date "June 10, 2018" is not in its sources'),
    ("I met Daniel Hayes at a church picnic in Dallas.", MET, INTAKE, '"Dallas" is not in its sources'),
    ("I was not treated for depression.", DIAGNOSED, THERAPIST, 'says "not treated", but its sources say "diagnosed"'),
    ("I am a U.S. citizen.", CITIZEN, INTAKE, 'says "I am a U.S. citizen", but its facts say that of someone else'),
    ("I married Maria Elena Ramirez Lopez.", MARRIED, INTAKE, 'names the client ("Maria Elena Ramirez Lopez")'),
    ("I injured her wrist.", WRIST, POLICE, 'says "I injured", but its facts say that of someone else (abuser'),
    ("I injured her wrist.", WRIST, POLICE, 'third person ("her wrist")'),
    ("I stated that the victim fell.", FELL, POLICE, 'says "I stated", but its facts say that of someone else'),
    ("I stated that the victim fell.", FELL, POLICE, 'third person ("the victim")'),
    ("I granted the protective order.", GRANTED, ORDER, 'says "I granted", but its facts say that of someone else'),
    ("I called the police on September 3, 2021.", NEIGHBOUR, POLICE, "that of someone else (witness"),
    ("I called the police on September 3, 2021.", NEIGHBOUR, POLICE, 'the date "September 3, 2021" is not'),
    (CONTACT, PHONE, f"{INTAKE} {CONTACT}", "contact details and record numbers are never part"),
    (" ".join(MESSAGES.split()), TEXTED, MESSAGES, "pastes a message transcript as narrative"),
    ('He texted me: "come home now or I will kill you."', TEXTED, MESSAGES, 'quoted words "come home now or I'),
    ("He hit me 12 times that night.", MET, INTAKE, 'the number "12" is not in its sources'),
    # What someone else underwent is not the client's either.
    (
        "I was arrested on September 5, 2021.",
        fact("Daniel Hayes was arrested on September 5, 2021", "police"),
        "Daniel Hayes was arrested on September 5, 2021.",
        'says "I was arrested", but its facts say that of someone else',
    ),
    ("My case number is 2021-PO-334.", GRANTED, ORDER + " Case No. 2021-PO-334.", "a case or record number"),
    ("My A-number is A123456789.", MET, RECORD + " A-number: A123456789.", "an A-number"),
    # The demo's drafter, of a prescription: its words and date, and an act no source states.
    (
        "These symptoms began in April 2019.",
        fact("Her doctor prescribed sertraline 50 mg daily in April 2019", "medical"),
        "Her symptoms include nightmares. Her doctor prescribed sertraline 50 mg daily in April 2019.",
        'it says "began", which none of its sources says of anyone',
    ),
    ("Officer J. Alvarez, badge 6120.", GRANTED, "Reporting officer: Officer J. Alvarez, badge 6120.", "a badge"),
    # Labelled the client's, but the fact's own words give the act to him.
    (
        "I pushed him down the stairs.",
        fact("Daniel pushed her down the stairs", "client"),
        "Daniel pushed her down the stairs.",
        'says "I pushed", but its facts say that of someone else',
    ),
]


@pytest.mark.parametrize(("text", "cited", "passage", "reason"), UNFAITHFUL)
def test_the_issues_unfaithful_sentences_fail_with_their_reason(
    text: str, cited: dict[str, Any], passage: str, reason: str
) -> None:
    problems = check_sentence(text, facts=[cited], passages=[passage], record=RECORD)
    assert any(reason in p for p in problems), problems


FAITHFUL = [
    ("I met Daniel Hayes in March 2015 at a church picnic in Houston.", MET, INTAKE),
    ("I met Daniel at a church picnic in Houston.", MET, INTAKE),  # a first name alone
    ("I married Daniel Hayes on June 10, 2017.", MARRIED, INTAKE),
    ("I married Daniel Hayes on 6/10/2017 in Harris County.", MARRIED, INTAKE),
    ("I married Daniel Hayes on 2017-06-10.", MARRIED, INTAKE),
    ("I married Daniel on 10 June 2017.", MARRIED, INTAKE),
    ("I married Daniel in June 2017.", MARRIED, INTAKE),  # a month and year
    ("I married Daniel in 2017.", MARRIED, INTAKE),  # a year alone
    ("In 2018, we moved to Pasadena, Texas.", MARRIED, INTAKE),
    ("I was diagnosed with depression in 2022 by Dr. Ortiz.", DIAGNOSED, THERAPIST),
    ("Daniel is a U.S. citizen.", CITIZEN, INTAKE),
    ("Daniel is a citizen of the United States.", CITIZEN, INTAKE),  # U.S. = United States
    ("My name is Maria Elena Ramírez López.", MARRIED, INTAKE),  # accents; the client's own name as hers
    ("I, Maria Elena Ramirez Lopez, married Daniel Hayes on June 10, 2017.", MARRIED, INTAKE),
    ("Daniel injured my wrist.", WRIST, POLICE),
    ("He would not leave, and he injured my wrist.", WRIST, POLICE),  # "left" in "her left wrist" is a side
    ("Daniel's grip injured my left wrist.", WRIST, POLICE),  # a possessive
    ("Daniel told the police that I fell.", FELL, POLICE),  # his words about the client, not hers
    ("The Harris County court granted me a protective order on October 1, 2021.", GRANTED, ORDER),
    ("My neighbour, Linda Park, called the police on September 5, 2021.", NEIGHBOUR, POLICE),
    ('Daniel texted me: "come home now or you will regret it."', TEXTED, MESSAGES),  # quoted, as a quote
    ("I was granted a protective order.", GRANTED, ORDER),  # granted to her; the order is what was granted
    ("I was taken to the hospital.", fact("Officer Ruiz took the victim to the hospital", "police"), POLICE),
    (
        "I reported the abuse to HPD.",
        fact("She reported it to the Houston Police Department", "client"),
        POLICE + (" She reported the abuse to the Houston Police Department."),
    ),  # initials
    (
        "He grabbed my neck and I could not breathe.",
        fact("he grabbed her by the neck", "abuser"),
        "He grabbed her neck.",
    ),
]


@pytest.mark.parametrize(("text", "cited", "passage"), FAITHFUL)
def test_faithful_counterparts_pass(text: str, cited: dict[str, Any], passage: str) -> None:
    assert check_sentence(text, facts=[cited], passages=[passage], record=RECORD) == []


def test_the_record_backs_what_it_holds_and_names_the_client() -> None:
    born = {"id": "R1", "n": 0, "text": "Maria was born on April 12, 1990", "actor": "client", "source": "record"}
    assert check_sentence("I was born on April 12, 1990 in Guatemala.", facts=[born], passages=[], record=RECORD) == []
    assert check_sentence("I was born on April 12, 1991.", facts=[born], passages=[], record=RECORD) == [
        'the date "April 12, 1991" is not in its sources'
    ]
    assert client_names(RECORD) == ["Maria Elena Ramírez López", "Maria Lopez", "Elena Ramirez"]
    # As generation.record.record_text writes it.
    written = (
        "Client: Maria Elena Ramirez Lopez (also known as Maria Ramirez). Country: Guatemala.\nAbuser: Daniel Hayes."
    )
    assert client_names(written) == ["Maria Elena Ramirez Lopez", "Maria Ramirez"]
    assert client_names("Client: Maria Elena Ramirez Lopez. Country: Guatemala.") == ["Maria Elena Ramirez Lopez"]
    # An alias the record lists is the client's name too.
    assert check_sentence("I married Maria Lopez.", facts=[MARRIED], passages=[INTAKE], record=RECORD)


def test_a_status_is_the_clients_only_when_a_fact_of_hers_says_so() -> None:
    hers = {
        "id": "R1",
        "n": 0,
        "text": "The client is from Guatemala and is a citizen of Guatemala.",
        "actor": "client",
    }
    his = {"id": "R2", "n": 0, "text": "Daniel Hayes's immigration status is U.S. citizen.", "actor": "abuser"}

    def check(text: str, *cited: dict[str, Any]) -> list[str]:
        return check_sentence(text, facts=list(cited), passages=[], record=RECORD)

    assert check("I am a citizen of Guatemala.", hers) == []
    assert check("Daniel Hayes is a U.S. citizen.", his) == []
    assert check("I am a U.S. citizen.", hers, his) == [
        'it says the client is "U.S. citizen", which her record does not say',
        'it says "I am a U.S. citizen", but its facts say that of someone else (abuser: "Daniel Hayes\'s '
        'immigration status is U.S. citizen."); the client may only state what they did, saw, felt or underwent',
    ]  # citing a fact of hers as well does not make his status hers
    assert check("My immigration status is U.S. citizen.", his)[0].startswith(
        'it says "My immigration status is U.S. citizen", but its facts say that of someone else (abuser'
    )


def test_her_is_someone_else_unless_copied_from_a_fact_about_the_client() -> None:
    held = fact("She held her daughter's hand", "client")
    assert check_sentence("I held her hand.", facts=[held], passages=["She held her daughter's hand."], record="") == []
    assert (
        check_sentence(
            "I saw blood on his hands.", facts=[WRIST], passages=[POLICE + " Blood on his hands."], record=""
        )
        == []
    )


def test_a_sentence_without_facts_or_with_unrelated_words_fails() -> None:
    assert check_sentence("I met Daniel.", facts=[], passages=[INTAKE], record=RECORD) == ["it cites no evidence"]
    assert check_sentence("He bought me a red car.", facts=[MET], passages=[INTAKE], record=RECORD) == [
        "none of what it states appears in its sources"
    ]


def test_an_act_without_a_client_fact_is_not_the_clients() -> None:
    problems = check_sentence("I moved to Pasadena in 2018.", facts=[CITIZEN], passages=[INTAKE], record=RECORD)
    assert problems == ['it says "I moved", but none of its facts is about what the client did (their actors: abuser)']
    # Without an actor (an older run), the fact's own subject says who: "She" is the client.
    unlabelled = {"id": "F1", "n": 1, "text": "She moved to Pasadena in 2018"}
    assert check_sentence("I moved to Pasadena in 2018.", facts=[unlabelled], passages=[INTAKE], record=RECORD) == []


def test_dates_are_whole_dates() -> None:
    (found,) = find_dates("We married on Saturday, June 10th, 2017.")
    assert found.readings == {(2017, 6, 10)}
    assert {r for d in find_dates("on 6/10/2017") for r in d.readings} == {(2017, 6, 10), (2017, 10, 6)}
    assert [d.readings for d in find_dates("in March 2015, and in 2018")] == [{(2015, 3, None)}, {(2018, None, None)}]
    # The year of the wedding occurs in the passage, as another date's: still a year off.
    passage = "They married on June 10, 2017. In 2018 we moved."
    assert check_fact("They married on June 10, 2018", passage=passage, record="") == [
        'the date "June 10, 2018" is not in its sources'
    ]


def test_a_fact_must_be_in_its_passage() -> None:
    assert check_fact("They married on June 10, 2017", passage=INTAKE, record=RECORD) == []
    assert check_fact("She met Daniel Hayes in Dallas", passage=INTAKE, record=RECORD) == [
        '"Dallas" is not in its sources'
    ]
    assert check_fact("She was born in Guatemala", passage=INTAKE, record=RECORD) == [
        "none of what it states appears in its sources"
    ]  # the record knows Guatemala, but the fact must come from its passage
    assert check_fact("He bought her a red car", passage=INTAKE, record=RECORD) == [
        "none of what it states appears in its sources"
    ]
    assert check_fact("She was not treated", passage=THERAPIST, record="") == [
        'it says "not treated", but its sources say "diagnosed"'
    ]


def test_the_clients_aliases_listed_after_known_as_are_hers() -> None:
    aliases = {"id": "R2", "n": 0, "text": "I am also known as Maria Lopez, Elena Ramirez.", "actor": "client"}
    for text in (
        "I am also known as Maria Lopez, Elena Ramirez.",
        "I am also known as Maria Lopez and Elena Ramirez.",
    ):
        assert check_sentence(text, facts=[aliases], passages=[], record=RECORD) == []
    # A list that goes on to someone else's act is still read as naming the client as another person.
    assert check_sentence(
        "I am also known as Maria Lopez, and Daniel married Elena Ramirez.", facts=[aliases], passages=[], record=RECORD
    )


# --- a synthetic VAWA case, as generation.record writes its record (record_text and record_facts) -----

TORRES_RECORD = (
    "Client: Ana Lucía Torres Villanueva. Born: March 14, 1991. Country: Bolivia. Language: Spanish.\n"
    "Abuser: Richard Allen Kessler. Born: August 22, 1984. Country: United States. Immigration status: U.S. citizen.\n"
    "Child: Sofía Kessler Torres. Born: November 5, 2018."
)


def record_fact(n: int, actor: str, text: str) -> dict[str, Any]:
    return {"id": f"R{n}", "n": 0, "source": "record", "actor": actor, "text": text, "document_name": "Case record"}


HER_NAME = record_fact(1, "client", "My full name is Ana Lucía Torres Villanueva.")
HER_BIRTH = record_fact(2, "client", "I was born on March 14, 1991.")
HER_COUNTRY = record_fact(3, "client", "I am from Bolivia and a citizen of Bolivia.")
HIS_NAME = record_fact(4, "abuser", "My abuser is Richard Allen Kessler.")
HIS_BIRTH = record_fact(5, "abuser", "Richard Allen Kessler was born on August 22, 1984 in Tucson, Arizona.")
HIS_STATUS = record_fact(6, "abuser", "The immigration status of my abuser, Richard Allen Kessler, is U.S. citizen.")
CHILD_NAME = record_fact(7, "child", "My child is Sofía Kessler Torres.")
CHILD_BIRTH = record_fact(8, "child", "My child, Sofía Kessler Torres, was born on November 5, 2018.")
HIS_CERTIFICATE = "Certificate of Birth. Richard Allen Kessler. Date of birth: August 22, 1984. Place: Tucson, Arizona."
LEASE = (
    "Residential lease. Tenants: Ana Lucia Torres Villanueva and Richard Kessler, 2245 East Calle Lucero, Tucson, "
    "Arizona, from July 2015 to May 2018."
)
INTAKE_TORRES = (
    "Client lived with Richard at 2245 East Calle Lucero from July 2015 to May 2018. In March 2017 Richard hit her "
    "in the face. He abused her until she left in May 2018."
)
LIVED = fact("I lived at 2245 East Calle Lucero, Tucson, Arizona from July 2015 to May 2018.", "client")
HIT_HER = fact("Richard hit her in the face in March 2017", "abuser", 2)
ORDER_TORRES = fact("The Pima County court granted her a protective order on June 1, 2018", "court", 3)
ORDER_PASSAGE = "Order of protection. The Pima County court granted a protective order to Ana Lucia Torres Villanueva."


def check_torres(text: str, *cited: dict[str, Any], passages: tuple[str, ...] = ()) -> list[str]:
    return check_sentence(text, facts=list(cited), passages=list(passages), record=TORRES_RECORD)


def test_a_name_the_client_gives_as_hers_must_be_one_of_her_names() -> None:
    for text in ("I am Sofía Kessler Torres.", "My name is Sofía Kessler Torres.", "I am also known as Sofía Kessler."):
        problems = check_torres(text, CHILD_NAME, CHILD_BIRTH)
        assert any(p.startswith('it says the client is "Sofía Kessler') for p in problems), (text, problems)
        assert any("someone else: the client is Ana Lucía Torres Villanueva" in p for p in problems)
    for text in (
        "I am Ana Lucía Torres Villanueva.",
        "My name is Ana Lucía Torres Villanueva.",
        "I am Ana.",
        "I, Ana Lucía Torres Villanueva, was born on March 14, 1991.",
    ):
        assert check_torres(text, HER_NAME, HER_BIRTH) == [], text
    # Her daughter's birth, and her own nationality, are not a name she takes.
    assert (
        check_torres("My daughter, Sofía Kessler Torres, was born on November 5, 2018.", CHILD_NAME, CHILD_BIRTH) == []
    )
    assert check_torres("I am Bolivian.", HER_COUNTRY) == []
    # Without a client line in the record, the client's own name fact says who she is.
    unnamed = check_sentence("I am Sofía Kessler Torres.", facts=[HER_NAME, CHILD_NAME], passages=[], record="")
    assert any(p.startswith('it says the client is "Sofía Kessler Torres"') for p in unnamed), unnamed


def test_a_birth_date_or_place_of_someone_else_is_not_the_clients() -> None:
    said = "I was born in Tucson, Arizona on August 22, 1984."
    alone = check_torres(said, HIS_BIRTH, passages=(HIS_CERTIFICATE,))
    assert any(p.startswith('it says "I was born", but its facts say that of someone else') for p in alone), alone
    # Her own birth fact cited beside his does not make his date and place hers.
    both = check_torres(said, HER_BIRTH, HIS_BIRTH, passages=(HIS_CERTIFICATE,))
    assert both == [
        'it says "I was born" with "August 22, 1984", but that is in a fact about someone else (abuser: '
        '"Richard Allen Kessler was born on August 22, 1984 in Tucson, Arizona."), not in one about the client'
    ]
    assert check_torres("I was born in Tucson.", HER_BIRTH, HIS_BIRTH, passages=(HIS_CERTIFICATE,))[0].startswith(
        'it says "I was born" with "Tucson", but that is in a fact about someone else (abuser'
    )
    # The daughter shares the client's surname: her birth is still not the client's.
    child = check_torres("I was born on November 5, 2018.", CHILD_NAME, CHILD_BIRTH)
    assert any("its facts say that of someone else" in p for p in child), child
    # Faithful: her own date; his birth told of him.
    assert check_torres("I was born on March 14, 1991.", HER_BIRTH, HIS_BIRTH) == []
    assert check_torres("I was born on March 14, 1991 in Bolivia.", HER_BIRTH, HER_COUNTRY) == []
    assert (
        check_torres(
            "Richard Allen Kessler was born on August 22, 1984 in Tucson, Arizona.",
            HIS_BIRTH,
            passages=(HIS_CERTIFICATE,),
        )
        == []
    )
    assert check_torres("I was hit in the face by Richard in March 2017.", HIT_HER, passages=(INTAKE_TORRES,)) == []


def test_harm_and_court_acts_need_a_fact_that_states_them() -> None:
    text = (
        "I am Ana Lucía Torres Villanueva. I was hit by a man named Richard Allen Kessler. The court granted me an "
        "order to stop him from hurting me."
    )
    assert check_torres(text, HER_NAME, HIS_NAME, HIS_STATUS) == [
        'it alleges hitting ("hit"), which none of its facts states',
        'it alleges harm ("hurting"), which none of its facts states',
        'it says a court acted ("granted me an order"), which none of its facts states',
    ]  # the names it shares with the record are not what it claims
    # Abuse a passage speaks of elsewhere is not backed by a fact about where she lived.
    assert check_torres("I was abused on July 2015 to May 2018.", LIVED, passages=(INTAKE_TORRES,)) == [
        'it alleges abuse ("abused"), which none of its facts states'
    ]
    # The record's "Abuser:" names his role, no act of his; without it no source alleges abuse at all.
    assert check_torres("I was abused on July 2015 to May 2018.", LIVED, HIS_NAME, passages=(LEASE,)) == [
        'it alleges abuse ("abused"), which none of its facts states'
    ]
    assert check_sentence("I was abused on July 2015 to May 2018.", facts=[LIVED], passages=[LEASE], record="") == [
        'it alleges abuse ("abused"), which its sources do not'
    ]
    # Faithful: facts that state them.
    assert check_torres("I lived at 2245 East Calle Lucero from July 2015 to May 2018.", LIVED, passages=(LEASE,)) == []
    assert check_torres("Richard hit me and I was hurt.", HIT_HER, passages=(INTAKE_TORRES,)) == []
    assert check_torres("I was abused by Richard.", HIT_HER, passages=(INTAKE_TORRES,)) == []  # hitting is abuse
    assert check_torres("He never hit me in front of Sofía.", HIT_HER, CHILD_NAME, passages=(INTAKE_TORRES,)) == []
    assert check_torres("The court granted me a protective order.", ORDER_TORRES, passages=(ORDER_PASSAGE,)) == []


def test_each_sentence_of_a_passage_must_share_what_it_states() -> None:
    assert check_torres("I am Ana Lucía Torres Villanueva. I was born on March 14, 1991.", HER_NAME, HER_BIRTH) == []
    assert check_torres(
        "I am Ana Lucía Torres Villanueva. I bought a red car at the Phoenix market.", HER_NAME, HER_BIRTH
    ) == ['"Phoenix" is not in its sources']
    assert check_torres(
        "I am Ana Lucía Torres Villanueva. I later bought a red car with yellow wheels.", HER_NAME, HER_BIRTH
    ) == ['none of what "I later bought a red car with yellow wheels." states appears in its sources']


def test_a_first_person_fact_labelled_as_someone_elses_does_not_make_it_the_clients() -> None:
    # Extraction writes facts as the client would tell them; a small model may write "I" for the abuser's
    # status while naming him as the actor. His status must never become hers.
    his = {"id": "F1", "n": 1, "text": "I am a U.S. citizen.", "actor": "abuser", "source": "evidence"}
    passage = "Client states Richard is a U.S. citizen, born in Tucson, Arizona."
    assert check_sentence("I am a U.S. citizen.", facts=[his], passages=[passage], record=RECORD)
    # Likewise a fact whose text has "she" do it but whose label names the police: the sentence fails (and is
    # rewritten or removed) rather than trust one of two answers that disagree.
    mislabelled = fact("She called the police", "police")
    assert check_sentence("I called the police.", facts=[mislabelled], passages=["She called the police."], record="")
    hers = {**his, "text": "I called 911 from the bathroom.", "actor": "client"}
    assert (
        check_sentence(
            "I called 911 from the bathroom.",
            facts=[hers],
            passages=[passage + " She called 911 from the bathroom."],
            record=RECORD,
        )
        == []
    )


# --- who did it, predicate by predicate: a fact labelled the client's may still tell of someone else's acts --

WHAT_HE_WAS = fact(
    "Client says he was patient and funny, and that he was kind to her aunt. On weekends he drove her to Mount "
    "Lemmon and to the desert museum.",
    "client",
)


def test_an_act_or_quality_the_facts_give_to_someone_else_is_not_the_clients() -> None:
    # A real run let these through: the fact is the client's (she says it), but what it says is his.
    def check(text: str, *cited: dict[str, Any]) -> list[str]:
        return check_torres(text, *cited, passages=tuple(_text(f) for f in cited))

    assert check("I was patient and funny, and I was kind to her aunt.", WHAT_HE_WAS) == [
        'it says "I was patient", but its facts say someone else was ("he was patient and funny")',
        'it says "I was funny", but its facts say someone else was ("he was patient and funny")',
        'it says "I was kind", but its facts say someone else was ("he was kind to her aunt")',
    ]
    assert check("On weekends, I drove her to Mount Lemmon and to the desert museum.", WHAT_HE_WAS) == [
        'it says "I drove", but its facts say someone else did ("he drove her to Mount Lemmon and to the desert '
        'museum")'
    ]
    choked = check("I choked him.", fact("Client says Richard choked her", "client"))
    assert choked == ['it says "I choked", but its facts say someone else did ("Richard choked her")']
    assert check("I choked him.", fact("Richard choked her", "abuser"))
    # In the client's own voice "she" is someone else: her daughter's act is not hers.
    assert check("I cried all night.", fact("My daughter Sofía cried all night.", "client")) == [
        'it says "I cried", but its facts say someone else did ("My daughter Sofía cried all night")'
    ]
    # Faithful: his acts told as his, acts done together, what she underwent, her own acts and status.
    assert check("He was patient and funny, and he was kind to my aunt.", WHAT_HE_WAS) == []
    assert check("On weekends, he drove me to Mount Lemmon and to the desert museum.", WHAT_HE_WAS) == []
    assert (
        check("I went out for coffee with him the next week.", fact("They went out for coffee the next week", "client"))
        == []
    )
    assert check("I married Richard in 2015.", fact("Client says Richard married her in 2015", "client")) == []
    assert check("I was pushed to the floor.", fact("He pushed her to the floor", "abuser")) == []
    assert check("I called 911 from the bathroom.", fact("She called 911 from the bathroom.", "client")) == []
    assert check("I am a citizen of Bolivia.", HER_COUNTRY) == []
    assert check("I was kind to her.", fact("I was kind to her and he was cruel.", "client")) == []
    assert check("I was married to Richard.", fact("Richard was married to her", "client")) == []
    # A quoted "I" in a third-person fact is the speaker's; "she" is still the client.
    assert check("I left in May 2018.", fact('She left in May 2018 after he said "I will find you."', "client")) == []
    assert check("I found the letters.", fact('He said "I found the letters."', "abuser"))
    # A word the facts do not use is a paraphrase, for the other checks to judge.
    assert check("I loved our weekends at the desert museum.", WHAT_HE_WAS) == []


def _text(cited: dict[str, Any]) -> str:
    return str(cited["text"])


def test_a_heading_run_into_a_facts_name_does_not_make_it_someone_else() -> None:
    # Page text joins a heading to the next line: the fact's subject is still the client.
    record = "Client: Jane Doe. Born: May 4, 1991.\nAbuser: John Roe."
    born = fact("CLIENT INTAKE NOTES Jane Doe was born on May 4, 1991 in San Pedro Sula, Honduras.", "client")
    passage = "CLIENT INTAKE NOTES Jane Doe was born on May 4, 1991 in San Pedro Sula, Honduras."
    told = "I was born on May 4, 1991 in San Pedro Sula, Honduras."
    assert check_sentence(told, facts=[born], passages=[passage], record=record) == []
    his = fact("INCIDENT REPORT John Roe was born on May 4, 1991 in San Pedro Sula, Honduras.", "abuser")
    assert check_sentence(told, facts=[his], passages=[passage], record=record)


def test_an_act_reversed_in_a_clause_the_parser_hangs_under_another_still_fails() -> None:
    choked = fact(
        "Richard KESSLER choked Ana Lucia Torres Villanueva against the kitchen counter and pushed her to the floor;"
        " she broke her left wrist.",
        "abuser",
    )
    reversed_ = (
        "I choked Richard KESSLER against the kitchen counter and pushed him to the floor; he broke my left wrist."
    )
    assert check_sentence(reversed_, facts=[choked], passages=[choked["text"]], record=RECORD)
    told = fact("He told the police that she fell.", "abuser")
    assert check_sentence("He told the police that I fell.", facts=[told], passages=[told["text"]], record="") == []


def test_what_a_fact_labelled_someone_elses_says_happened_to_i_did_not_happen_to_the_client() -> None:
    arrested = fact("I was arrested.", "police")  # a model's "I" in a fact it gave to the police
    assert check_sentence("I was arrested.", facts=[arrested], passages=["He was arrested."], record=RECORD)
    hers = fact("I was pushed to the floor.", "client")
    assert check_sentence("I was pushed to the floor.", facts=[hers], passages=["She was pushed."], record="") == []


def test_an_i_copied_from_a_letter_about_the_client_is_its_authors() -> None:
    """A therapist's letter says "Based on my clinical assessment, she meets the criteria ..." and "I expect
    that she will need treatment": copied into the client's declaration, that "my" and "I" would be hers."""
    letter = (
        "Ms. Ramirez Lopez has attended weekly sessions since May 2021. Based on my clinical assessment, she meets "
        "the criteria for Posttraumatic Stress Disorder. I expect that she will need treatment for another year."
    )
    fact = {"id": "F1", "n": 1, "actor": "medical", "text": "She meets the criteria for Posttraumatic Stress Disorder."}
    for copied, phrase in [
        ("Based on my clinical assessment, I meet the criteria for Posttraumatic Stress Disorder.", "my clinical"),
        ("I expect that I will need treatment for another year.", "I expect that"),
    ]:
        problems = check_sentence(copied, facts=[fact], passages=[letter], record=RECORD)
        assert any(phrase in p and "passage's author" in p for p in problems), problems
    # Her own words, told from the letter's third person, are not the author's.
    told = "I have attended weekly sessions since May 2021."
    attended = {"id": "F2", "n": 1, "actor": "client", "text": "Ms. Ramirez Lopez has attended weekly sessions."}
    assert not any(
        "passage's author" in p for p in check_sentence(told, facts=[attended], passages=[letter], record=RECORD)
    )


# --- the actor of an extracted fact, settled from its words and its passage's ------------------------------

BENCH_INTAKE = (
    "On April 17, 2021 a neighbor called 911 because of the screaming (client did not call). Police came; Richard "
    "did the talking. She called 911 from the bathroom. He was arrested. Client left this house on April 23, 2021 "
    "and has not returned. Client states Richard is a U.S. citizen. Client filed for divorce on June 14, 2021."
)
BENCH_POLICE = (
    "I made contact with the victim in the bathroom. She was crying and holding her left wrist, which was swollen. "
    "I observed red marks on both sides of her neck and a scratch below her left ear."
)


def test_a_fact_is_the_clients_when_it_and_its_passage_both_make_her_its_subject() -> None:
    # The 1.5B labelled these by their excerpt's kind (the bench case): the gate then removed her own acts.
    client = client_names(TORRES_RECORD)
    assert settled_actor("Client filed for divorce on June 14, 2021.", "police", BENCH_INTAKE, client) == "client"
    assert settled_actor("I left on April 23, 2021.", "police", BENCH_INTAKE, client) == "client"
    crying = "The victim was crying and holding her left wrist, which was swollen."
    assert settled_actor(crying, "child", BENCH_POLICE, client) == "client"
    # An officer's "I" in the passage never makes a fact hers, nor the neighbour's call, nor his status.
    assert settled_actor("I observed red marks on both sides of her neck.", "police", BENCH_POLICE, client) == "police"
    assert settled_actor("I called 911 because of the screaming.", "witness", BENCH_INTAKE, client) == "witness"
    assert settled_actor("I am a U.S. citizen.", "abuser", BENCH_INTAKE, client) == "abuser"
    # A fact about someone else keeps its label; so does one whose passage does not say it (a paraphrase).
    assert settled_actor("Richard did the talking.", "abuser", BENCH_INTAKE, client) == "abuser"
    assert settled_actor("I moved out in the spring.", "police", BENCH_INTAKE, client) == "police"
    # Every sentence of the fact must be hers: one of his in it keeps the label.
    both = "Client left this house on April 23, 2021. I am a U.S. citizen."
    assert settled_actor(both, "abuser", BENCH_INTAKE, client) == "abuser"


def test_a_fact_of_two_doers_is_told_apart_sentence_by_sentence() -> None:
    # The bench's children section: one answer held the victim's state and the officer's observation,
    # labelled `child`; as one fact, "I was crying and holding my left wrist" was removed as the child's.
    client = client_names(TORRES_RECORD)
    mixed = (
        "The victim was crying and holding her left wrist, which was swollen. "
        "I observed red marks on both sides of her neck and a scratch below her left ear."
    )
    assert settled_pieces(mixed, "child", BENCH_POLICE, client) == [
        ("The victim was crying and holding her left wrist, which was swollen.", "client"),
        ("I observed red marks on both sides of her neck and a scratch below her left ear.", "child"),
    ]
    # A rank's abbreviation ends no sentence: "with Ofc. Moreno translating" stays whole.
    stated = "The victim stated in Spanish, with Ofc. Moreno translating, that he hit her."
    assert settled_pieces(stated, "police", BENCH_POLICE, client) == [(stated, "police")]
    # Sentences in a row with one doer stay one fact.
    hers = "Client left this house on April 23, 2021. Client filed for divorce on June 14, 2021."
    assert settled_pieces(hers, "police", BENCH_INTAKE, client) == [(hers, "client")]
    assert settled_pieces("Richard did the talking.", "abuser", BENCH_INTAKE, client) == [
        ("Richard did the talking.", "abuser")
    ]


def test_what_we_did_must_be_what_the_facts_say_she_and_he_or_they_did() -> None:
    account = fact("In September 2015 they opened a joint checking account at Sonoran Federal Credit Union", "client")
    passage = "In September 2015 they opened a joint checking account at Sonoran Federal Credit Union."
    assert (
        check_torres(
            "In September 2015 we opened a joint checking account at Sonoran Federal Credit Union.",
            account,
            passages=(passage,),
        )
        == []
    )
    neighbour = fact("On April 17, 2021 a neighbor called 911 because of the screaming.", "witness")
    called = "On April 17, 2021 a neighbor called 911 because of the screaming (client did not call). Police came."
    problems = check_torres("On April 17, 2021 we called 911.", neighbour, passages=(called,))
    assert any(p.startswith('it says "We called", but its facts say someone else did') for p in problems), problems


def test_a_sentence_looked_for_backs_what_its_words_make_the_client_do_and_no_more() -> None:
    # A passage's own sentence (no model labelled it) is "other" by its main subject, "the first incident";
    # its words still have her come home, and him throw the plate.
    passage = (
        "The first incident client remembers was in March 2016: she came home late from the bakery, and he threw "
        "a plate against the kitchen wall and grabbed her arm so hard it left bruises."
    )
    looked = {**fact(passage, "other"), "looked_for": True}
    told = (
        "The first incident I remember was in March 2016: I came home late from the bakery, and he threw a plate "
        "against the kitchen wall and grabbed my arm so hard it left bruises."
    )
    assert check_sentence(told, facts=[looked], passages=[passage], record=RECORD) == []
    assert check_sentence(
        "I threw a plate against the kitchen wall.", facts=[looked], passages=[passage], record=RECORD
    )
    # The model's own label is not overruled by the words: "she came home", labelled the police's, is not hers.
    labelled = fact("She came home late from the bakery", "police")
    assert check_sentence("I came home late from the bakery.", facts=[labelled], passages=[passage], record=RECORD)


def test_a_notes_verbless_none_is_the_clients_and_a_denied_arrest_is_no_allegation() -> None:
    passage = "Client volunteers at the food pantry. No arrests, no criminal record, in any country."
    assert settled_pieces("No arrests, no criminal record, in any country.", "other", passage, ["Maria"]) == [
        ("No arrests, no criminal record, in any country.", "client")
    ]
    hers = {**fact("No arrests, no criminal record, in any country.", "client"), "looked_for": True}
    sentence = "I have never been arrested, nor have I had a criminal record in any country."
    assert check_sentence(sentence, facts=[hers], passages=[passage], record=RECORD) == []
    # An arrest no source speaks of is still alleged.
    assert check_sentence("I was arrested in 2019.", facts=[hers], passages=["Client volunteers."], record=RECORD)


def test_a_fact_that_gives_the_passages_act_to_someone_else_is_not_backed() -> None:
    # The 1.5B on the bench: "Client says he married him" from "Client says she married him because ...",
    # "He started working" from "Client started working ...". Same words, another doer.
    passage = (
        "Client started working at La Estrella Bakery in February 2016. Richard became jealous of her coworkers. "
        "Client says she married him because she loved him and wanted a family."
    )
    assert check_fact("He started working at La Estrella Bakery in February 2016.", passage=passage, record=RECORD)
    assert check_fact("Client says he married him because she loved him.", passage=passage, record=RECORD)
    assert (
        check_fact("She started working at La Estrella Bakery in February 2016.", passage=passage, record=RECORD) == []
    )
    assert check_fact("Richard became jealous of her coworkers.", passage=passage, record=RECORD) == []


def test_a_date_the_record_gives_another_party_is_not_the_clients_birth() -> None:
    # The bench's children section: the child's record fact "My child is Sofía ..." rewritten as "I was born
    # on November 5, 2018" (the child's birth date, from the record's child line).
    record = "Client: Maria Lopez. Born: April 12, 1990.\nChild: Sofia Hayes. Born: February 3, 2019."
    child = {"id": "R2", "n": 0, "text": "My child is Sofia Hayes.", "actor": "child", "source": "record"}
    assert check_sentence("I was born on February 3, 2019.", facts=[child], passages=[], record=record)
    hers = {"id": "R1", "n": 0, "text": "I was born on April 12, 1990.", "actor": "client", "source": "record"}
    assert check_sentence("I was born on April 12, 1990.", facts=[hers], passages=[], record=record) == []
    born = {**child, "text": "My child, Sofia Hayes, was born on February 3, 2019."}  # "my" is whose, not who
    assert check_sentence("I was born on February 3, 2019.", facts=[born], passages=[], record=record)


def test_quoted_words_must_be_the_sources_words_in_their_order() -> None:
    # The bench's police report: the drafter told the abuser's "she fell" as "I fell", inside his quote.
    report = 'KESSLER was calm and stated, "Nothing happened, she fell." KESSLER stated that the victim fell.'
    his = fact('KESSLER was calm and stated, "Nothing happened, she fell."', "abuser")
    problems = check_sentence(
        'KESSLER was calm and stated, "Nothing happened, I fell."', facts=[his], passages=[report], record=RECORD
    )
    assert any("are not its sources' words" in p for p in problems), problems
    for kept in (
        'KESSLER was calm and stated, "Nothing happened, she fell."',
        'He told the officers, "Nothing happened..."',
        'He said "nothing happened ... she fell."',
    ):
        assert check_sentence(kept, facts=[his], passages=[report], record=RECORD) == [], kept


def test_a_phrase_with_no_verb_is_not_a_sentence() -> None:
    passage = "The victim was given a DV resource card and information about orders of protection."
    given = fact(passage, "police")
    problems = check_sentence(
        "DV resource card and information about orders of protection.", facts=[given], passages=[passage], record=RECORD
    )
    assert "it is not a sentence: nothing in it is done or is" in problems
    assert (
        check_sentence(
            "I was given a DV resource card and information about orders of protection.",
            facts=[{**given, "actor": "client"}],
            passages=[passage],
            record=RECORD,
        )
        == []
    )


def test_a_judgement_of_her_account_is_not_hers_to_swear() -> None:
    letter = "Ms. Torres Villanueva reports nightmares. Her account has been consistent across sessions."
    judged = fact("Her account has been consistent across sessions.", "other")
    problems = check_sentence(
        "My account has been consistent across sessions.", facts=[judged], passages=[letter], record=RECORD
    )
    assert any("is a judgement of her by someone else" in p for p in problems), problems


def test_a_fact_must_say_what_its_excerpt_says_in_its_words() -> None:
    # The demo (default catalog): asked for "our children" of a childless couple's intake, the model answered
    # with the couple's names and a claim the passage does not hold.
    passage = (
        "Marriage: They married on June 3, 2016 at the Harris County Civil Courthouse. They opened a joint checking "
        "account at Chase in July 2016 and signed a lease together."
    )
    record = "Client: Maria Elena Ramírez López.\nAbuser: Daniel Robert Hayes."
    for invented in ("Maria and Daniel had a child together.", "Maria and Daniel lived together as a married couple."):
        assert check_fact(invented, passage=passage, record=record), invented
    assert check_fact(
        "Maria and Daniel were at the wedding and celebrated it together.", passage=passage, record=record
    )
    for copied in (
        "They opened a joint checking account at Chase in July 2016.",
        "The client says they married at the Harris County Civil Courthouse.",
    ):
        assert check_fact(copied, passage=passage, record=record) == [], copied


def test_a_status_she_claims_as_hers_must_be_her_records() -> None:
    # The demo's drafter, of "No arrests, no criminal record, in any country.": every word of it is in the case
    # file (she entered the United States; her husband is a U.S. citizen), and it swears she is a citizen.
    record_fact = fact("No arrests, no criminal record, in any country", "client")
    passage = "No arrests, no criminal record, in any country. She entered the United States. Daniel is a U.S. citizen."

    def check(text: str) -> list[str]:
        return check_sentence(text, facts=[record_fact], passages=[passage], record=RECORD)

    claimed = "I am Maria Elena Ramírez López, a citizen of the United States, who has never been arrested."
    assert 'it says the client is "citizen of the United States", which her record does not say' in check(claimed)
    assert any("which her record does not say" in p for p in check("I am a U.S. citizen with no arrests."))
    assert any("which her record does not say" in p for p in check("I became a permanent resident in 2016."))
    assert not any("her record" in p for p in check("I am from Guatemala and a citizen of Guatemala."))
    assert not any("her record" in p for p in check("My husband is a U.S. citizen."))
    assert check("I have no arrests, no criminal record, in any country.") == []
