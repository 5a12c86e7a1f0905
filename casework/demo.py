"""The demo firm, its three users and a fictional VAWA case with a few documents. Idempotent.

Every name, number and event here is invented for demonstration.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import User
from django.db import transaction

from casework.intake import CaseInput, PartyInput, do_create_case
from casework.models import Case, CaseType, Document, Firm, Membership, PartyRole, Role
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload

DEMO_FIRM = "Demo Immigration Law Group"
DEMO_CASE_TITLE = "Ramírez López - VAWA self-petition (demo)"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_LOGINS = (
    DemoLogin("attorney", "affiant-attorney-demo", Role.ATTORNEY),
    DemoLogin("paralegal", "affiant-paralegal-demo", Role.PARALEGAL),
    DemoLogin("ops", "affiant-ops-demo", Role.OPS_ADMIN),
)

DEMO_DOCUMENTS: dict[str, list[str]] = {
    "intake-notes.pdf": [
        "CLIENT INTAKE NOTES - CONFIDENTIAL ATTORNEY-CLIENT COMMUNICATION\n"
        "Client: Maria Elena Ramirez Lopez. Date of birth: April 12, 1990. Born in Quetzaltenango, Guatemala. "
        "Citizen of Guatemala. Preferred language: Spanish. Currently lives in Houston, Texas.\n\n"
        "Background: Maria grew up in Quetzaltenango with her mother and two younger brothers. She finished "
        "secondary school in 2007 and worked as a seamstress in her aunt's shop. She entered the United States "
        "in August 2013 on a tourist visa to visit her cousin in Houston and stayed.\n\n"
        "How they met: Maria met Daniel Robert Hayes in March 2015 at a church picnic at St. Anne's parish in "
        "Houston. He asked for her phone number that day. They went on their first date to a Mexican restaurant "
        "on Westheimer Road. He was attentive and brought her flowers every Sunday. He proposed in December 2015 "
        "at the same park where they met. Maria married him because she loved him and wanted a family.",
        "Marriage: They married on June 3, 2016 at the Harris County Civil Courthouse, with a church blessing at "
        "St. Anne's two weeks later. They opened a joint checking account at Chase in July 2016 and signed a "
        "lease together for an apartment at Willow Creek Apartments in Houston in August 2016. Daniel is a U.S. "
        "citizen, born in San Antonio, Texas. Maria saw his U.S. passport when they applied for the lease.\n\n"
        "Abuse began: In early 2017 Daniel began checking her phone and forbade her from seeing her cousin. "
        "He called her stupid and said no one would believe an illegal. In May 2017 he took her passport and "
        "her Guatemalan ID and locked them in his truck. He said he would call immigration and she would never "
        "see her family again if she left him.\n\n"
        "Physical abuse: On November 18, 2018 Daniel pushed Maria against the kitchen wall and slapped her "
        "after she asked for money for groceries. On February 9, 2019 he choked her during an argument about "
        "her cousin's birthday party; she had bruises on her neck. She called 911 that night.",
    ],
    "police-report-2019-02-09.pdf": [
        "HOUSTON POLICE DEPARTMENT - INCIDENT REPORT\n"
        "Incident number: 2019-0209-4471. Date: February 9, 2019, 23:40. Location: Willow Creek Apartments, "
        "Houston, Texas. Reporting officer: Officer J. Alvarez, badge 6120.\n\n"
        "Narrative: Officers responded to a 911 call reporting a domestic disturbance. The complainant, Maria "
        "Ramirez Lopez, stated that her husband, Daniel Hayes, grabbed her by the neck with both hands and "
        "squeezed during an argument. Officer observed red marks and swelling on both sides of the "
        "complainant's neck. The complainant was crying and stated that her husband told her that if she "
        "called the police he would have her deported. Suspect Daniel Hayes was arrested for assault family "
        "violence by impeding breath. EMS evaluated the complainant at the scene and advised her to go to the "
        "hospital.",
    ],
    "protective-order.pdf": [
        "PROTECTIVE ORDER - 310th DISTRICT COURT, HARRIS COUNTY, TEXAS\n"
        "Cause number 2019-12345. Applicant: Maria Elena Ramirez Lopez. Respondent: Daniel Robert Hayes.\n\n"
        "The Court finds that family violence has occurred and is likely to occur in the future. The Respondent "
        "is prohibited from committing family violence against the Applicant, from communicating with the "
        "Applicant in a threatening or harassing manner, and from going within 500 feet of the Applicant's "
        "residence or place of employment. This order is effective from March 14, 2019 until March 14, 2021.\n\n"
        "The Applicant left the shared residence on February 10, 2019 and stayed at the Houston Area Women's "
        "Center shelter for six weeks.",
    ],
    "medical-record.pdf": [
        "BEN TAUB HOSPITAL - EMERGENCY DEPARTMENT NOTE\n"
        "Patient: Maria Ramirez Lopez. Visit date: February 10, 2019.\n\n"
        "Chief complaint: neck pain after strangulation by husband the previous night. Findings: petechiae and "
        "bruising on the anterior neck, hoarse voice, pain on swallowing. Patient reports prior incidents of "
        "being slapped and pushed. Patient referred to social work and to counseling for anxiety and trouble "
        "sleeping. Follow-up: patient attended counseling at the Houston Area Women's Center from March 2019 "
        "to December 2019 for depression and post-traumatic stress.",
    ],
}


def _ensure_user(login: DemoLogin, firm: Firm) -> User:
    user, created = User.objects.get_or_create(
        username=login.username,
        defaults={"first_name": login.role.replace("_", " ").title(), "last_name": "Demo"},
    )
    if created:
        user.set_password(login.password)
        user.save(update_fields=["password"])
    Membership.objects.update_or_create(user=user, defaults={"firm": firm, "role": login.role})
    return user


@transaction.atomic
def seed_demo() -> Case:
    """The demo firm, users and case; documents are stored once and queued for ingestion on commit."""
    firm, _ = Firm.objects.get_or_create(name=DEMO_FIRM)
    users = {login.role: _ensure_user(login, firm) for login in DEMO_LOGINS}
    caseworkers = [users[Role.ATTORNEY], users[Role.PARALEGAL]]
    case = Case.objects.filter(firm=firm, title=DEMO_CASE_TITLE).first()
    if case is None:
        case = do_create_case(
            firm=firm,
            created_by=users[Role.PARALEGAL],
            assignees=caseworkers,
            data=CaseInput(
                title=DEMO_CASE_TITLE,
                case_type=CaseType.VAWA_SPOUSE,
                client=PartyInput(
                    role=PartyRole.CLIENT,
                    name="Maria Elena Ramírez López",
                    aliases=("Maria Ramirez Lopez", "Maria Ramirez"),
                    birth_date=date(1990, 4, 12),
                    a_number="A201555013",
                    country="Guatemala",
                    language="Spanish",
                ),
                parties=(
                    PartyInput(
                        role=PartyRole.ABUSER,
                        name="Daniel Robert Hayes",
                        aliases=("Danny Hayes",),
                        birth_date=date(1986, 9, 2),
                        immigration_status="U.S. citizen",
                    ),
                ),
            ),
        )
    from casework.tasks import ingest_document_task

    for name, pages in DEMO_DOCUMENTS.items():
        stored = do_store_upload(
            case=case, name=name, stream=io.BytesIO(text_pdf(pages)), uploaded_by=users[Role.PARALEGAL]
        )
        if not stored.duplicate:
            transaction.on_commit(functools.partial(ingest_document_task.delay, stored.document.pk))
    return case


def demo_documents_pending(case: Case) -> int:
    return Document.objects.filter(case=case, status__in=["queued", "processing"]).count()
