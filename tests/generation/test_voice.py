"""The client's voice: third-person mentions of the client told by her, and nothing else changed."""

from __future__ import annotations

import pytest

from generation.voice import abuser_names, in_client_voice, without_reporting_frame

RECORD = (
    "Client: Ana Lucía Torres Villanueva (also known as Ana Torres, Ana Lucia Torres). Born: March 14, 1991. "
    "Country: Bolivia.\nAbuser: Richard Allen Kessler (also known as Rick Kessler). Born: August 22, 1984. "
    "Immigration status: U.S. citizen.\nChild: Sofía Kessler Torres. Born: November 5, 2018."
)


@pytest.mark.parametrize(
    ("written", "told"),
    [
        (
            "He took her paychecks and gave her $40 a week for the bus and food.",
            "He took my paychecks and gave me $40 a week for the bus and food.",
        ),
        (
            "Richard choked her against the kitchen counter and pushed her to the floor; she broke her left wrist.",
            "Richard choked me against the kitchen counter and pushed me to the floor; I broke my left wrist.",
        ),
        (
            "Client was too afraid to speak because he was standing next to her.",
            "I was too afraid to speak because he was standing next to me.",
        ),
        (
            "Ms. Torres Villanueva attends every session, works full time, and cares for her daughter alone.",
            "I attend every session, work full time, and care for my daughter alone.",
        ),
        ("He told her she would never see Sofía again.", "He told me I would never see Sofía again."),
        ("The client has no arrests.", "I have no arrests."),
        ("The client's passport was kept in his truck.", "My passport was kept in his truck."),
        ("Ana Lucía Torres Villanueva is from Bolivia.", "I am from Bolivia."),
        (
            "On April 17, 2021, a neighbor called 911 because of the screaming (client did not call).",
            "On April 17, 2021, a neighbor called 911 because of the screaming (I did not call).",
        ),
    ],
)
def test_the_client_in_the_third_person_is_told_by_her(written: str, told: str) -> None:
    assert in_client_voice(written, record=RECORD) == told


@pytest.mark.parametrize(
    "written",
    [
        "Sofía attends the Head Start preschool program.",  # about someone else: nothing to change
        "Richard Allen Kessler is a U.S. citizen.",  # his status stays his
        "The officer asked her if she was hurt.",  # "she" could be the officer
        "Sofía cried when she saw him.",  # "she" could be Sofía
        "I called 911 from the bathroom.",  # already the client's voice
    ],
)
def test_what_may_mean_someone_else_is_left_alone(written: str) -> None:
    assert in_client_voice(written, record=RECORD) is None


def test_the_abusers_names_come_from_the_record() -> None:
    assert abuser_names(RECORD) == ["Richard Allen Kessler", "Rick Kessler"]


@pytest.mark.parametrize(
    ("written", "told"),
    [
        ("I say I married him because I loved him.", "I married him because I loved him."),
        ("I stated Richard is a U. S. citizen, born in Tucson.", "Richard is a U. S. citizen, born in Tucson."),
        ("I explained that he took my passport.", "He took my passport."),
        ("I said no.", "I said no."),  # no clause of its own follows: the words are hers
        ("I reported the assault to Deputy Saenz.", "I reported the assault to Deputy Saenz."),  # an act, not a frame
        # The bench case's intake and therapist's letter, told by the client.
        ("I report nightmares several nights a week.", "I have nightmares several nights a week."),
        ("I report that he hit me.", "He hit me."),
        (
            "I say he was patient and funny, and that he was kind to my aunt.",
            "He was patient and funny, and he was kind to my aunt.",
        ),
        (
            "I take English classes on Tuesday evenings and say I want to become a bookkeeper again.",
            "I take English classes on Tuesday evenings and I want to become a bookkeeper again.",
        ),
        ("I left and that was the end of it.", "I left and that was the end of it."),
    ],
)
def test_the_frame_of_who_reported_the_clients_words_is_dropped(written: str, told: str) -> None:
    assert without_reporting_frame(written) == told
