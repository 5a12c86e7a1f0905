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
        "Date of intake: April 2, 2019. Paralegal: Teresa Molina. Interpreter: Spanish (in person).\n"
        "Client: Maria Elena Ramirez Lopez. Date of birth: April 12, 1990. Born in Quetzaltenango, Guatemala. "
        "Citizen of Guatemala. Preferred language: Spanish. Currently lives in Houston, Texas.\n"
        "Client phone: (713) 555-0164. Safe to leave messages: NO.\n"
        "\n"
        "Background: Maria grew up in Quetzaltenango with her mother and two younger brothers. Her mother, Rosa "
        "Lopez de Ramirez, sold vegetables at the central market. Her father, Ernesto Ramirez, worked in "
        "construction and died in 2004. Her brothers, Luis and Carlos, still live in Quetzaltenango. She finished "
        "secondary school in 2007 and worked as a seamstress in her aunt's shop from 2008 to 2013. She entered "
        "the United States on August 15, 2013 at Houston Intercontinental Airport on a B-2 tourist visa to visit "
        "her cousin, Lucia Morales, who lives in Houston. She stayed with her cousin after the visa expired. She "
        "stayed in Houston because her cousin offered her a room and she could send money home to her mother "
        "every month.\n"
        "\n"
        "How they met: Maria met Daniel Robert Hayes in March 2015 at a church picnic at St. Anne's parish in "
        "Houston. He asked for her phone number that day. They went on their first date to a Mexican restaurant "
        "on Westheimer Road. He was attentive and brought her flowers every Sunday. He was gentle and patient "
        "with her, and he listened when she talked about her family in Guatemala. He spoke a little Spanish and "
        "helped her practice English. On weekends he drove her to Galveston beach and to the Houston Zoo. They "
        "went to Mass together at St. Anne's every Sunday and cooked dinner for her cousin's family. He proposed "
        "in December 2015 at the same park where they met. Maria married him because she loved him and wanted a "
        "family.",
        "Marriage: They married on June 3, 2016 at the Harris County Civil Courthouse, with a church blessing at "
        "St. Anne's two weeks later. Her cousin Lucia and his brother, Mark Hayes, were the witnesses. Afterward "
        "they celebrated with a dinner at her cousin's house. They opened a joint checking account at Chase in "
        "July 2016 and signed a lease together for an apartment at Willow Creek Apartments in Houston in August "
        "2016. In the first year of the marriage Daniel worked as an electrician and Maria worked at Fiesta Mart; "
        "they shared the rent and the bills and saved money to buy a house. They wanted children together but "
        "have none.\n"
        "\n"
        "His status: Daniel is a U.S. citizen, born in San Antonio, Texas. Maria saw his U.S. passport when they "
        'applied for the lease. Daniel told her many times he would file immigration papers (I-130) for her "when '
        'we have more money." He never filed anything.\n'
        "\n"
        "RESIDENCES\n"
        "1) 915 Oak Street, Apt 3, Pasadena, TX 77506 - June 2016 to August 2016. Daniel's apartment; the lease "
        "was in his name.\n"
        "2) Willow Creek Apartments, 4100 Willow Creek Drive, Apt 212, Houston, TX 77077 - August 2016 to "
        "February 10, 2019. The lease was in both names.\n"
        "Client left the apartment on February 10, 2019 and has not returned. Her current address is "
        "confidential. Do not put it on any form.\n"
        "\n"
        "Abuse began: Client started working at Fiesta Mart in April 2016. In early 2017 Daniel became jealous of "
        "her coworkers. He began checking her phone every night and forbade her from seeing her cousin. The first "
        "incident client remembers was in March 2017: he threw her phone against the wall and grabbed her wrists "
        "so hard they bruised. He called her stupid and said no one would believe an illegal. In May 2017 he took "
        "her passport and her Guatemalan ID and locked them in his truck. From 2017 on he took her paychecks and "
        "gave her $30 a week for the bus. He did not let her call her mother more than once a month. He said he "
        "would call immigration and she would never see her family again if she left him.",
        "Physical abuse: On July 4, 2018 Daniel pushed Maria down the back steps at his brother's house in front "
        "of his family; she scraped her knees and her elbow. On November 18, 2018 Daniel pushed Maria against the "
        "kitchen wall and slapped her after she asked for money for groceries. On February 9, 2019 he choked her "
        "during an argument about her cousin's birthday party; she had bruises on her neck.\n"
        "The worst incident: On February 9, 2019 Daniel came home angry because she had gone to her cousin's "
        "birthday party. He pushed her into the kitchen, put both hands around her neck and squeezed until she "
        "could not breathe. Client says she thought she was going to die. When he let go she ran to the bathroom, "
        "locked the door and called 911.\n"
        "\n"
        "Seeking help: On February 9, 2019 client called 911 from the bathroom. Daniel told the officers that she "
        "fell. He was arrested. On February 10, 2019 she was treated at the Ben Taub Hospital emergency room and "
        "went to the Houston Area Women's Center shelter. Protective order granted March 14, 2019 (310th District "
        "Court). Client filed for divorce on May 6, 2019.\n"
        "\n"
        "Effects: Client reports nightmares, trouble sleeping, and that she is afraid when she sees a white "
        "pickup truck. She still wakes up at night feeling hands on her neck. She is afraid to go out alone after "
        "dark. She has seen a counselor at the Houston Area Women's Center every week since March 2019 and takes "
        "sertraline every day.\n"
        "\n"
        "Good moral character: Client has worked at Fiesta Mart since April 2016 (cashier, later in the bakery "
        "department). She has filed federal tax returns with an ITIN every year since 2016. She sings in the "
        "choir at St. Anne's parish on Sundays and volunteers at the parish food bank on Saturdays. No arrests, "
        "no criminal record, in any country.\n"
        "\n"
        "Client today: Client rents a room from a family from her church. She takes English classes at Houston "
        "Community College on Monday and Wednesday evenings and says she wants to open her own sewing shop. She "
        "says she feels safe for the first time in years. She hopes to bring her mother to visit one day.\n"
        "\n"
        "Next steps: request police report and ER records; counselor's letter; copies of the text messages.",
    ],
    "police-report-2019-02-09.pdf": [
        "HOUSTON POLICE DEPARTMENT - INCIDENT REPORT\n"
        "Incident number: 2019-0209-4471. Date: February 9, 2019, 23:40. Location: Willow Creek Apartments, "
        "Houston, Texas. Reporting officer: Officer J. Alvarez, badge 6120.\n"
        "\n"
        "Narrative: Officers responded to a 911 call reporting a domestic disturbance. The complainant, Maria "
        "Ramirez Lopez, stated that her husband, Daniel Hayes, grabbed her by the neck with both hands and "
        "squeezed during an argument. Officer observed red marks and swelling on both sides of the complainant's "
        "neck. The complainant was crying and stated that her husband told her that if she called the police he "
        "would have her deported. Daniel Hayes stated that his wife fell against the counter and that he never "
        "touched her. The complainant stated that this was not the first time and that he had slapped her in "
        "November. Suspect Daniel Hayes was arrested for assault family violence by impeding breath. EMS "
        "evaluated the complainant at the scene and advised her to go to the hospital. Officer Alvarez "
        "photographed the red marks on her neck. The complainant stated that she was afraid that her husband "
        "would kill her. The complainant's cousin, Lucia Morales, arrived at the scene and stated that the "
        "complainant had called her crying twice that month.",
    ],
    "protective-order.pdf": [
        "PROTECTIVE ORDER - 310th DISTRICT COURT, HARRIS COUNTY, TEXAS\n"
        "Cause number 2019-12345. Applicant: Maria Elena Ramirez Lopez. Respondent: Daniel Robert Hayes.\n"
        "\n"
        "The Court finds that family violence has occurred and is likely to occur in the future. The Respondent "
        "is prohibited from committing family violence against the Applicant, from communicating with the "
        "Applicant in a threatening or harassing manner, and from going within 500 feet of the Applicant's "
        "residence or place of employment. This order is effective from March 14, 2019 until March 14, 2021.\n"
        "\n"
        "The Applicant left the shared residence on February 10, 2019 and stayed at the Houston Area Women's "
        "Center shelter for six weeks.",
    ],
    "medical-record.pdf": [
        "BEN TAUB HOSPITAL - EMERGENCY DEPARTMENT NOTE\n"
        "Patient: Maria Ramirez Lopez. Visit date: February 10, 2019.\n"
        "\n"
        "Chief complaint: neck pain after strangulation by husband the previous night. Findings: petechiae and "
        "bruising on the anterior neck, hoarse voice, pain on swallowing. Patient reports prior incidents of "
        "being slapped and pushed. CT of the neck showed no fracture. Patient was discharged with ibuprofen and "
        "instructions to return if her breathing worsened. Patient referred to social work and to counseling for "
        "anxiety and trouble sleeping. Follow-up: patient attended counseling at the Houston Area Women's Center "
        "from March 2019 to December 2019 for depression and post-traumatic stress.",
    ],
    "text-messages.pdf": [
        "TEXT MESSAGE TRANSCRIPT (screenshots provided by client, transcribed by the firm)\n"
        'Contact shown as "Danny" (Daniel Robert Hayes). Messages in English as sent.\n'
        "\n"
        "[02/07/2019 8:02 PM] Danny: Where is your check. You get paid today. Bring it home.\n"
        "[02/07/2019 8:05 PM] Maria: I need money for the bus\n"
        "[02/07/2019 8:06 PM] Danny: You get 30 like always\n"
        "[02/08/2019 9:40 PM] Danny: You were talking to that guy at the register again. I saw you.\n"
        "[02/08/2019 9:41 PM] Danny: Your passport stays in my truck. Nobody helps an illegal.\n"
        "[02/11/2019 1:12 AM] Danny: You called the cops on me. I will call immigration and you will never see "
        "your family again.\n"
        "[02/11/2019 1:15 AM] Danny: I know where your cousin lives.\n"
        "\n"
        "Transcribed by: Teresa Molina, paralegal, April 3, 2019. Original screenshots retained in the file.",
    ],
    "counselor-letter.pdf": [
        "HOUSTON AREA WOMEN'S CENTER - COUNSELING SERVICES\n"
        "January 15, 2020\n"
        "\n"
        "To Whom It May Concern:\n"
        "\n"
        "I am a licensed professional counselor in the State of Texas. I write at the request of my client, Maria "
        "Elena Ramirez Lopez, with her written consent. Ms. Ramirez Lopez was in individual counseling with me "
        "from March 2019 to December 2019, weekly, in Spanish, for 38 sessions.\n"
        "\n"
        "Ms. Ramirez Lopez reports two years of physical, emotional and economic abuse by her husband, including "
        "being choked on February 9, 2019 and threats that he would have her deported. Based on my clinical "
        "assessment, she meets the criteria for Posttraumatic Stress Disorder and Major Depressive Disorder. Her "
        "symptoms include nightmares, difficulty sleeping, startling at the sound of a truck, and crying spells. "
        "Her doctor prescribed sertraline 50 mg daily in April 2019. She reports that her husband called her "
        "stupid and useless almost every day and that she lost contact with her friends during the marriage. She "
        "cries when she speaks of her mother, whom she has not seen since 2013.\n"
        "\n"
        "Ms. Ramirez Lopez attended every session and works full time. I expect that she will need further "
        "treatment.\n"
        "\n"
        "Sincerely,\n"
        "Laura Benavides, LPC\n"
        "Houston Area Women's Center",
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
