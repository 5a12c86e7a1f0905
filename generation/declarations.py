"""Declaration templates: the sections of a VAWA self-petition and a T visa statement.

Each section says what it must show (the legal element), and what to look for in the case file.
Bump VERSION when a template changes; a run records the version it drafted with.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = 4


@dataclass(frozen=True)
class SectionSpec:
    key: str
    heading: str
    element: str
    query: str
    optional: bool = False
    # What the section must state; a need the evidence does not answer is listed for the attorney as missing.
    needs: tuple[str, ...] = ()
    # The case record's fields the section states (see generation.record): (field, need) pairs, the need
    # the field answers (never asked of the model, never missing when the record holds it), "" for none.
    record: tuple[tuple[str, str], ...] = ()
    # The parties (by role) the section is about: their names join its search query, since the passages
    # that speak of a child often name her and say nothing of "children" (the quality bench's therapist
    # letter: "Her daughter Sofía ... wakes at night crying").
    about: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeclarationTemplate:
    key: str
    title: str
    sections: tuple[SectionSpec, ...]

    def section(self, key: str) -> SectionSpec:
        return next(s for s in self.sections if s.key == key)


# The client's identity as the case record holds it. The record's country is the country of nationality;
# it also answers where the client was born as "from" that country (the record holds no birthplace).
_IDENTITY = (
    ("client.name", "my full name"),
    ("client.aliases", ""),
    ("client.birth_date", "my date of birth"),
    ("client.country", "where I was born"),
    ("client.country", "my nationality"),
    ("client.language", "my first language"),
)

VAWA = DeclarationTemplate(
    key="vawa",
    title="Declaration in support of VAWA self-petition (Form I-360)",
    sections=(
        SectionSpec(
            "introduction",
            "Introduction",
            "identity",
            "name born date of birth nationality citizen country city live",
            needs=("my full name", "my date of birth", "where I was born", "my nationality", "my first language"),
            record=_IDENTITY,
        ),
        SectionSpec(
            "life_before",
            "My life before I met him",
            "context",
            "childhood family school work grew up came to the United States entry",
            needs=(
                "my parents and what they did",
                "my brothers and sisters",
                "my schooling",
                "my work before I came to the United States",
                "when and how I came to the United States",
                "why I came and where I stayed",
            ),
        ),
        SectionSpec(
            "how_we_met",
            "How we met",
            "good-faith marriage",
            "met first date dating courtship proposed why married love",
            needs=(
                "when we met",
                "where we met",
                "how he treated me while we were dating",
                "what we did together before we married",
                "when and how he proposed",
                "why I married him",
            ),
        ),
        SectionSpec(
            "marriage",
            "Our marriage",
            "good-faith marriage, relationship",
            "wedding married ceremony joint account lease children plans together",
            needs=(
                "the date and place of our wedding",
                "who was at our wedding and how we celebrated",
                "our joint bank account or finances",
                "our lease or home together",
                "our children",
                "our life together as a married couple",
            ),
        ),
        SectionSpec(
            "abuser_status",
            "His immigration status",
            "qualifying relationship",
            "citizen permanent resident green card passport naturalization status",
            needs=(
                "his immigration status (citizen or permanent resident)",
                "how I know his status",
                "where he was born",
            ),
            record=(("abuser.immigration_status", "his immigration status (citizen or permanent resident)"),),
        ),
        SectionSpec(
            "residence",
            "Where we lived together",
            "joint residence",
            "lived together apartment address moved lease rent home",
            needs=(
                "the first address where we lived together, and when",
                "each later address where we lived together, and when",
                "whose names the lease was in",
            ),
        ),
        SectionSpec(
            "abuse_began",
            "When the abuse began",
            "battery or extreme cruelty",
            "first time started yelled jealous control changed began",
            needs=(
                "when the abuse began",
                "what changed in him first (jealousy, control)",
                "how he watched or controlled me at first",
                "the first incident: what he did",
                "my injuries from the first incident",
            ),
        ),
        SectionSpec(
            "physical_abuse",
            "Physical and sexual abuse",
            "battery",
            "hit pushed choked slapped kicked injury bruise hospital police forced",
            needs=(
                "each time he hit, slapped, pushed or choked me, and when",
                "where it happened and who saw it",
                "my injuries",
                "the medical care I received",
                "the worst incident, step by step",
            ),
        ),
        SectionSpec(
            "emotional_abuse",
            "Emotional, economic and immigration-related abuse",
            "extreme cruelty",
            "threatened deport immigration papers money isolated friends insulted documents",
            needs=(
                "his threats to call immigration or have me deported",
                "his threats about my child",
                "how he controlled my money",
                "how he kept my passport or papers",
                "how he kept me from my family and friends",
                "his promises to file immigration papers for me",
            ),
        ),
        SectionSpec(
            "children",
            "Abuse of my children",
            "battery or extreme cruelty",
            "children son daughter child school hurt scared",
            optional=True,
            needs=("what my children saw or heard", "how the abuse affected my children"),
            record=(("child.name", ""), ("child.birth_date", "")),
            about=("child",),
        ),
        SectionSpec(
            "seeking_help",
            "Seeking help and leaving",
            "battery or extreme cruelty",
            "911 called police shelter protective order left divorce court",
            needs=(
                "each time the police came, and who called them",
                "what he told the police",
                "his arrest",
                "when I left, and where I went",
                "protective orders",
                "divorce or other court cases",
            ),
        ),
        SectionSpec(
            "effects",
            "How the abuse affected me",
            "battery or extreme cruelty",
            "depression anxiety sleep counseling therapy doctor afraid health",
            needs=(
                "my sleep and nightmares",
                "my fears now",
                "what doctors or therapists diagnosed",
                "counseling or therapy I receive",
                "medication I take",
            ),
        ),
        SectionSpec(
            "character",
            "My character and community",
            "good moral character",
            "work job taxes church volunteer community arrest record",
            needs=(
                "my work",
                "my taxes",
                "my church, volunteering or community",
                "my criminal record, if any",
            ),
        ),
        SectionSpec(
            "life_now",
            "My life now",
            "context",
            "now today future hope children work",
            optional=True,
            needs=(
                "where and with whom I live now (never the address)",
                "my children's school or care",
                "my studies",
                "my goals",
            ),
        ),
    ),
)

T_VISA = DeclarationTemplate(
    key="t_visa",
    title="Declaration in support of T nonimmigrant status (Form I-914)",
    sections=(
        SectionSpec(
            "introduction",
            "Introduction",
            "identity",
            "name born date of birth nationality citizen country city",
            needs=("my full name", "my date of birth", "where I was born", "my nationality", "my first language"),
            record=_IDENTITY,
        ),
        SectionSpec(
            "life_before",
            "My life before",
            "vulnerability",
            "poverty debt family pressure school work age village",
            needs=("my family's situation", "why I needed work"),
        ),
        SectionSpec(
            "recruitment",
            "How I was recruited",
            "action, fraud",
            "recruited promised job offer fee debt recruiter agency",
            needs=("who recruited me", "what they promised", "fees or debts"),
        ),
        SectionSpec(
            "travel",
            "Travel and arrival",
            "action, physical presence",
            "travel crossed border arrived airport passport documents route",
            needs=("how I traveled", "when I arrived in the United States"),
        ),
        SectionSpec(
            "conditions",
            "The work and living conditions",
            "purpose",
            "work hours pay wages housing slept worked days",
            needs=("the work I was made to do", "my hours and pay", "where I lived"),
        ),
        SectionSpec(
            "control",
            "How they controlled me",
            "means: force, fraud or coercion",
            "threatened force beat locked passport confiscated debt immigration isolated",
            needs=("threats or force used", "how they took my documents or money"),
        ),
        SectionSpec(
            "escape",
            "How it ended",
            "action",
            "escaped rescued raid left police ran",
            needs=("how I got away", "when it ended"),
        ),
        SectionSpec(
            "presence",
            "Why I am still in the United States",
            "physical presence on account of trafficking",
            "services fear trauma stay cooperation counseling",
            needs=("why I remain in the United States",),
        ),
        SectionSpec(
            "law_enforcement",
            "My contact with law enforcement",
            "reasonable requests",
            "police FBI agent officer interview report case number detective",
            needs=("my report to law enforcement", "the agency and case number"),
        ),
        SectionSpec(
            "hardship",
            "What would happen if I had to leave",
            "extreme hardship",
            "return country retaliation harm fear family stigma",
            needs=("the harm I would face if I returned",),
        ),
        SectionSpec(
            "past_problems",
            "Explaining past problems",
            "admissibility",
            "arrest entry crime forced record",
            optional=True,
            needs=("any arrest or immigration problem, and why",),
        ),
    ),
)

TEMPLATES = {t.key: t for t in (VAWA, T_VISA)}

ATTESTATION = (
    "I declare under penalty of perjury under the laws of the United States of America that the "
    "foregoing is true and correct."
)


def template_for_case_type(case_type: str) -> DeclarationTemplate:
    return T_VISA if case_type == "t_visa" else VAWA
