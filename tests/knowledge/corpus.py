"""A clinic's document set in all five formats, and questions whose answers it holds.

Used by the storage tier (both index stores), the end-to-end conversation test and
`bench/knowledge.py`. Every question names the document that answers it and a phrase the
retrieved passage must contain; no answer is in the agent's prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.unit.indexer.corpus import docx_bytes, pdf_bytes

HOURS_MD = """# Opening hours

Acme Dental is open Monday to Friday from 8 am to 6 pm.
On Saturdays the clinic opens at 9 am and closes at 1 pm.
We are closed on Sundays.

# Public holidays

The clinic is closed on public holidays, except for the emergency line.
Between Christmas and New Year the clinic opens only on the mornings of the 27th and 30th.
"""

PARKING_TXT = """Getting here and parking

Free parking is available in the car park behind the building for up to two hours.
Longer stays are charged by the city at the meter on Harbour Street.

There are bicycle racks next to the main entrance, covered from the rain.

Bus line 14 stops right in front of the clinic, at the Harbour Street stop.
The nearest train station is Springfield Central, a ten minute walk away.
"""

PRICES_HTML = """<!doctype html><html><head><title>Prices</title>
<script>var tracking = "analytics cleaning whitening";</script><style>body{color:#333}</style>
</head><body>
<nav><a href="/">Home</a> <a href="/prices">Prices</a> <a href="/careers">Careers</a></nav>
<main>
<h1>Prices</h1>
<p>A routine check-up examination costs 75 dollars.</p>
<p>A professional cleaning by our hygienist costs 95 dollars.</p>
<p>Teeth whitening costs 350 dollars for the full in-clinic treatment.</p>
<p>White composite fillings start from 120 dollars per tooth.</p>
<p>A full set of dental X-rays costs 60 dollars.</p>
</main>
<footer>Copyright Acme Dental. Site map. Privacy.</footer>
</body></html>
"""

TEAM_HTML = """<html><head><title>Our team</title></head><body>
<header>Acme Dental - menu - book online</header>
<article>
<h1>Our team</h1>
<h2>Dr. Priya Natarajan</h2>
<p>Dr. Natarajan is our orthodontist. She fits braces and clear aligners for teens and adults.</p>
<h2>Dr. Tomas Berg</h2>
<p>Dr. Berg specialises in dental implants and oral surgery, including wisdom tooth removal.</p>
<h2>Lena Fischer</h2>
<p>Lena is our dental hygienist. She does cleanings and gum care on Tuesdays and Thursdays.</p>
</article>
<aside>Follow us on social media</aside>
</body></html>
"""

EMERGENCIES_MD = """# Dental emergencies

For a dental emergency outside opening hours, call our emergency line at 555-0199.
The emergency dentist calls back within thirty minutes, day and night.

## Knocked-out tooth

If a tooth is knocked out, keep it in a glass of milk and come to the clinic within the hour.
Do not scrub the root of the tooth.

## Severe swelling

Swelling of the face with fever can be serious: go to the hospital emergency department.
"""

HYGIENE_TXT = """Hygiene and safety

Every instrument is cleaned and sterilised in an autoclave after each patient.
Treatment rooms have medical-grade air filters that run all day.
Staff wear fresh gloves and masks for every appointment.
"""

LOCATION_TXT = """Where to find us

Acme Dental is at 42 Harbour Street in Springfield, on the second floor.
The building has a lift, and the clinic is wheelchair accessible.
The reception desk is on the left as you leave the lift.
"""

NEW_PATIENTS_MD = """# New patients

Please bring a photo ID and your insurance card to your first visit.
Arrive fifteen minutes early to fill in the medical history form, or complete the forms
online at acme.example/forms before you come.

# Children

We see children from the age of three. A parent or guardian must stay with patients under 16.
"""

INSURANCE_PAGES = [
    [
        "Insurance and payment",
        "We accept Delta Dental, Cigna and Aetna insurance plans.",
        "We are not able to accept Medicaid at this time.",
    ],
    [],  # a scanned page without a text layer
    [
        "Payment plans",
        "Treatments over 500 dollars can be paid in six monthly instalments",
        "with no interest.",
    ],
]

SERVICES_PAGES = [
    [
        "Our services",
        "Root canal treatment is done in one or two visits under local anaesthetic.",
        "We place dental implants with a titanium post and a ceramic crown.",
    ],
    [
        "Orthodontics",
        "We offer metal braces and Invisalign clear aligners.",
        "Treatment usually takes between twelve and eighteen months.",
    ],
]

POLICIES_SECTIONS = [
    (
        "Cancellations",
        [
            "Please cancel or move your appointment at least 24 hours in advance.",
            "Appointments cancelled later or missed are charged a fee of 40 dollars.",
        ],
    ),
    (
        "Late arrivals",
        [
            "If you arrive more than 15 minutes late we may need to reschedule your visit.",
        ],
    ),
]

FAQ_SECTIONS = [
    (
        "Wi-Fi",
        ["The guest Wi-Fi network is AcmeGuest and the password is bluebird42."],
    ),
    (
        "Payments",
        [
            "We take debit and credit cards, Apple Pay and Google Pay.",
            "We do not accept cheques.",
        ],
    ),
    (
        "Dental records",
        ["Dental records are sent to another dentist within five business days of a request."],
    ),
]


def documents() -> dict[str, bytes]:
    """The twelve documents by file name (txt, md, html, pdf, docx)."""
    return {
        "hours.md": HOURS_MD.encode(),
        "parking.txt": PARKING_TXT.encode(),
        "prices.html": PRICES_HTML.encode(),
        "team.html": TEAM_HTML.encode(),
        "emergencies.md": EMERGENCIES_MD.encode(),
        "hygiene.txt": HYGIENE_TXT.encode(),
        "location.txt": LOCATION_TXT.encode(),
        "new-patients.md": NEW_PATIENTS_MD.encode(),
        "insurance.pdf": pdf_bytes(INSURANCE_PAGES, "Insurance and payment"),
        "services.pdf": pdf_bytes(SERVICES_PAGES, "Our services"),
        "policies.docx": docx_bytes("Appointment policies", POLICIES_SECTIONS),
        "faq.docx": docx_bytes("Frequently asked questions", FAQ_SECTIONS),
    }


def bad_documents(limit_bytes: int) -> dict[str, bytes]:
    """Documents an indexer must skip with a reason, each for a different one."""
    return {
        "corrupt.pdf": b"%PDF-1.4\n1 0 obj <<< this is not a PDF",
        "huge.txt": b"big " * (limit_bytes // 4 + 1),
        "image.txt": bytes(range(256)) * 8,
        "latin1.txt": "Caf\xe9 cr\xe8me br\xfbl\xe9e pour tout le monde".encode("latin-1"),
    }


def write(directory: Path, files: dict[str, bytes]) -> Path:
    """Write `files` into `directory`; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


@dataclass(frozen=True)
class Question:
    """A question, the document that answers it and a phrase its passage contains."""

    text: str
    document: str
    phrase: str


QUESTIONS = [
    Question("What time do you open on Saturday?", "hours.md", "9 am"),
    Question("Are you open on Sundays?", "hours.md", "closed on Sundays"),
    Question("Are you open between Christmas and New Year?", "hours.md", "27th"),
    Question("Is parking free?", "parking.txt", "two hours"),
    Question("Which bus goes to the clinic?", "parking.txt", "Bus line 14"),
    Question("Where can I leave my bike?", "parking.txt", "bicycle racks"),
    Question("How much is a cleaning?", "prices.html", "95 dollars"),
    Question("What does teeth whitening cost?", "prices.html", "350 dollars"),
    Question("How much do X-rays cost?", "prices.html", "60 dollars"),
    Question("Who fits braces at your clinic?", "team.html", "orthodontist"),
    Question("Which dentist removes wisdom teeth?", "team.html", "wisdom tooth"),
    Question("On which days does the hygienist work?", "team.html", "Tuesdays and Thursdays"),
    Question("What number do I call in an emergency at night?", "emergencies.md", "555-0199"),
    Question("My son knocked out a tooth, what should we do?", "emergencies.md", "milk"),
    Question("How do you clean your instruments?", "hygiene.txt", "autoclave"),
    Question("What is your address?", "location.txt", "42 Harbour Street"),
    Question("Is the clinic wheelchair accessible?", "location.txt", "wheelchair"),
    Question("What should I bring to my first appointment?", "new-patients.md", "photo ID"),
    Question("From what age do you treat children?", "new-patients.md", "age of three"),
    Question("Do you take Cigna insurance?", "insurance.pdf", "Cigna"),
    Question("Do you accept Medicaid?", "insurance.pdf", "Medicaid"),
    Question("Can I pay for treatment in instalments?", "insurance.pdf", "instalments"),
    Question("Do you offer Invisalign?", "services.pdf", "Invisalign"),
    Question("How many visits does a root canal take?", "services.pdf", "Root canal"),
    Question("Is there a fee if I cancel late?", "policies.docx", "40 dollars"),
    Question("What happens if I arrive late?", "policies.docx", "15 minutes late"),
    Question("What is the Wi-Fi password?", "faq.docx", "bluebird42"),
    Question("Can I pay by cheque?", "faq.docx", "cheques"),
    Question(
        "How long does it take to transfer my dental records?", "faq.docx", "five business days"
    ),
]
