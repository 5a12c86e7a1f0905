"""Declaration templates: the sections of a VAWA self-petition and a T visa statement.

Each section says what it must show (the legal element), and what to look for in the case file.
Bump VERSION when a template changes; a run records the version it drafted with.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = 6


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
    # What answers a need, in a document's words: (need, words) pairs, the words as spaCy lemmas (or
    # phrases). A passage's sentence holding one is a fact of that need even when the model's answer passed
    # it over: asked for "my parents and what they did", the 1.5B answered with the client's birth, and
    # "Her father, Jorge Torres, drove a city bus" two sentences on was never told (generation.stages.extract).
    look_for: tuple[tuple[str, str], ...] = ()


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
            look_for=(
                ("my parents and what they did", "father, mother, parent, dad, mom"),
                ("my brothers and sisters", "brother, sister, sibling"),
                ("my schooling", "school, study, university, college, degree, graduate"),
                ("my work before I came to the United States", "bookkeeper, accountant, seamstress, worked as"),
                ("when and how I came to the United States", "enter, arrive, visa, border"),
                ("why I came and where I stayed", "visit, stay"),
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
            look_for=(
                ("when we met", "meet"),
                ("how he treated me while we were dating", "kind, patient, funny, gentle, generous, offered to"),
                ("what we did together before we married", "weekend, trip, went out, drove me, drove her"),
                ("when and how he proposed", "propose, proposal, engaged, ring"),
                ("why I married him", "love, a family"),
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
            look_for=(
                ("the date and place of our wedding", "marry, wedding, ceremony"),
                ("who was at our wedding and how we celebrated", "witness, celebrate, guest, reception"),
                (
                    "our joint bank account or finances",
                    "joint account, bank account, checking account, credit union, bank",
                ),
                ("our lease or home together", "lease, apartment, moved into"),
                ("our children", "daughter, son"),
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
            look_for=(
                (
                    "his immigration status (citizen or permanent resident)",
                    "is a U.S. citizen, is a citizen, permanent resident, green card, naturalized",
                ),
                (
                    "how I know his status",
                    "his passport, his U.S. passport, birth certificate, naturalization certificate",
                ),
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
            look_for=(
                (
                    "the first address where we lived together, and when",
                    "lived together, lived at, moved into, moved to",
                ),
                ("each later address where we lived together, and when", "lived at, moved into, moved to"),
                ("whose names the lease was in", "lease"),
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
            look_for=(
                ("when the abuse began", "first incident"),
                ("what changed in him first (jealousy, control)", "jealous, jealousy, control"),
                ("how he watched or controlled me at first", "check, followed me, followed her"),
                ("my injuries from the first incident", "bruise"),
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
            look_for=(
                (
                    "each time he hit, slapped, pushed or choked me, and when",
                    "hit, slap, push, choke, punch, kick, beat, strangle, shove, rape, by the hair, by the neck",
                ),
                ("where it happened and who saw it", "in front of"),
                ("my injuries", "bruise, fracture, split, swollen, injury, bleed, broke my, broke her, marks on"),
                ("the medical care I received", "hospital, emergency, ambulance, treated at, x-ray"),
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
            look_for=(
                ("his threats to call immigration or have me deported", "deport, deported, call immigration"),
                ("his threats about my child", "never see, take her away, take him away, custody"),
                ("how he controlled my money", "paycheck, paychecks, a week, my money"),
                (
                    "how he kept my passport or papers",
                    "kept her, kept my, took her passport, took my passport, hid her, hid my, id card",
                ),
                ("how he kept me from my family and friends", "friends, isolate, did not let, bad influence"),
                ("his promises to file immigration papers for me", "I-130, petition, file immigration papers"),
            ),
        ),
        SectionSpec(
            "children",
            "Abuse of my children",
            "battery or extreme cruelty",
            "children son daughter child school hurt scared",
            optional=True,
            needs=("what my children saw or heard", "how the abuse affected my children"),
            look_for=(
                ("what my children saw or heard", "with her daughter, with my daughter, in front of the child"),
                ("how the abuse affected my children", "wakes at night, under her bed, under his bed, child therapist"),
            ),
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
            look_for=(
                ("each time the police came, and who called them", "911"),
                ("what he told the police", "he fell, she fell, she slipped, makes things up"),
                ("his arrest", "was arrested, arrested him, under arrest, into custody"),
                ("when I left, and where I went", "shelter, left this house, moved out"),
                ("protective orders", "protective order, order of protection, restraining order"),
                ("divorce or other court cases", "divorce"),
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
            look_for=(
                ("my sleep and nightmares", "nightmare, nightmares, sleep, asleep, insomnia"),
                ("my fears now", "startle, startling, jumps, afraid, frightened"),
                (
                    "what doctors or therapists diagnosed",
                    "diagnose, diagnosed, disorder, ptsd, depression, posttraumatic",
                ),
                ("counseling or therapy I receive", "therapy, counseling, a therapist, sessions"),
                ("medication I take", "prescribed, medication"),
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
            look_for=(
                ("my work", "worked, working, works at"),
                ("my taxes", "tax, taxes, ITIN"),
                (
                    "my church, volunteering or community",
                    "volunteer, volunteered, attends church, goes to church, choir",
                ),
                ("my criminal record, if any", "criminal record, no arrests, never been arrested"),
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
            look_for=(
                ("my children's school or care", "preschool, daycare, head start"),
                ("my studies", "classes, community college"),
                ("my goals", "wants to, hopes to, dream"),
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
