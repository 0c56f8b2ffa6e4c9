"""Assertion: ConText rules (rules/context/context.json), scope handling and section defaults.

Each row: (sentence, target, flags expected True); every other flag must be False.
"""

import json
from importlib import resources

import pytest

FLAGS = (
    "is_negated",
    "is_uncertain",
    "is_historical",
    "is_hypothetical",
    "is_family",
    "is_conditional",
)

ROWS = [
    # ---- "possible to" + a verb speaks of an action: the finding exists
    ("It was never possible to correct the metabolic acidosis.", "metabolic acidosis", set()),
    ("It was not possible to remove the mass.", "mass", set()),
    ("Possible pneumonia.", "pneumonia", {"is_uncertain"}),
    # ---- "Resolved X" opening a sentence: the finding is gone; mid-sentence it is not a cue
    ("Resolved interstitial edema.", "interstitial edema", {"is_negated"}),
    ("IMPRESSION: Resolved left lower lobe pneumonia.", "pneumonia", {"is_negated"}),
    ("Pain resolved, but nausea persisted.", "Pain", {"is_negated"}),
    ("Pain resolved, but nausea persisted.", "nausea", set()),
    ("The cough resolved.", "cough", {"is_negated"}),
    ("Resolving pneumonia.", "pneumonia", set()),
    # ---- a possible cause, a difficulty to exclude, "also possible" after an adverb
    ("Interstitial thickening could be due to edema.", "edema", {"is_uncertain"}),
    ("The opacity may be secondary to pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Pain due to fracture.", "fracture", set()),
    ("Pulmonary edema difficult to entirely exclude.", "Pulmonary edema", {"is_uncertain"}),
    ("It is difficult to exclude a small effusion.", "effusion", {"is_uncertain"}),
    ("Aspiration or pneumonia are also possible.", "pneumonia", {"is_uncertain"}),
    # ---- a new clause with its own subject ends a cue's scope
    ("Without motor deficit, normal reflexes, he was tachycardic at 115 bpm.", "tachycardic",
     set()),
    ("Without motor deficit, normal reflexes, he was tachycardic at 115 bpm.", "motor deficit",
     {"is_negated"}),
    # ---- a semicolon ends a cue's scope
    ("Exacerbation of COPD; hyponatremia, resolved.", "COPD", set()),
    ("Exacerbation of COPD; hyponatremia, resolved.", "hyponatremia", {"is_negated"}),
    # ---- negation cues
    ("Doppler of the legs was negative for DVT.", "DVT", {"is_negated"}),
    ("Doppler negative  for DVT.", "DVT", {"is_negated"}),  # double space inside the cue
    ("There were no further episodes of bleeding.", "bleeding", {"is_negated"}),
    ("Fever: none.", "Fever", {"is_negated"}),
    ("ALLERGIES - NONE.", "ALLERGIES", {"is_negated", "is_historical"}),
    ("She denies chest pain, nausea or diaphoresis.", "chest pain", {"is_negated"}),
    ("She denies chest pain, nausea or diaphoresis.", "nausea", {"is_negated"}),
    ("She denies chest pain, nausea or diaphoresis.", "diaphoresis", {"is_negated"}),
    ("Lungs clear without wheezes or rales.", "rales", {"is_negated"}),
    ("Myocardial infarction was ruled out.", "Myocardial infarction", {"is_negated"}),
    ("The margins are free of tumor.", "tumor", {"is_negated"}),
    ("No wheezes, rales or rhonchi.", "rhonchi", {"is_negated"}),
    ("GU - No frequency, urgency, or dysuria.", "urgency", {"is_negated"}),
    ("Her hyponatremia appears to have resolved.", "hyponatremia", {"is_negated"}),
    ("Small bowel obstruction, resolved.", "Small bowel obstruction", {"is_negated"}),
    ("No change in vision or diplopia.", "diplopia", {"is_negated"}),
    ("Bowel sounds absent.", "Bowel sounds", {"is_negated"}),
    ("Pneumothorax was not seen.", "Pneumothorax", {"is_negated"}),
    ("Masses not palpated.", "Masses", {"is_negated"}),
    ("Neither fever nor chills.", "chills", {"is_negated"}),
    ("He was not seen by cardiology for his chest pain.", "chest pain", set()),
    ("HIV negative.", "HIV", {"is_negated"}),
    (
        "No history of congestive heart failure.",
        "congestive heart failure",
        {"is_negated", "is_historical"},
    ),
    # ---- pseudo-negations: the cue is part of a longer phrase that negates nothing
    ("There is no increase in the pleural effusion.", "pleural effusion", set()),
    ("She has not only asthma but also eczema.", "asthma", set()),
    ("Culture grew gram negative rods.", "rods", set()),
    ("No change in the size of the nodule.", "nodule", set()),
    ("CT of the abdomen without contrast shows appendicitis.", "appendicitis", set()),
    ("The procedure was done without difficulty; hematoma noted.", "hematoma", set()),
    # ---- scope termination
    ("No fever but has a productive cough.", "cough", set()),
    ("No edema; however, there is cyanosis.", "cyanosis", set()),
    ("Denies headache, which is unlike her migraine.", "migraine", set()),
    ("No prior complaints, presents with abdominal pain.", "abdominal pain", set()),
    ("No significant abnormality except for mild scoliosis.", "mild scoliosis", set()),
    # ---- a cue inside the mention does not modify it; parentheses keep their scope
    ("Rectal exam showed no abnormalities.", "Rectal exam showed no abnormalities", set()),
    ("Report (slides not reviewed here) indicates leukemia.", "leukemia", set()),
    # ---- historical
    ("She has a history of breast cancer.", "breast cancer", {"is_historical"}),
    ("Past medical history of hypertension.", "hypertension", {"is_historical"}),
    ("He is status post appendectomy.", "appendectomy", {"is_historical"}),
    ("Carcinoma of thyroid status post thyroidectomy.", "Carcinoma of thyroid", {"is_historical"}),
    ("The patient is s/p CABG.", "CABG", {"is_historical"}),
    ("She had a prior stroke.", "stroke", {"is_historical"}),
    ("Mitral valve prolapse was found in 1992.", "Mitral valve prolapse", {"is_historical"}),
    ("He had pneumonia 3 years ago.", "pneumonia", {"is_historical"}),
    ("She had asthma as a child.", "asthma", {"is_historical"}),
    ("History notable for childhood asthma.", "asthma", {"is_historical"}),
    ("Unchanged elevated right hemidiaphragm.", "elevated right hemidiaphragm", {"is_historical"}),
    (
        "Consistent with the patient's known interatrial baffle.",
        "interatrial baffle",
        {"is_historical"},
    ),
    ("Status post CABG.", "Status post CABG", {"is_historical"}),  # cue opening the mention
    ("A two-day history of fever.", "fever", set()),  # recent, not historical
    ("CLINICAL HISTORY: right-sided weakness.", "right-sided weakness", set()),
    ("History of present illness: fever since yesterday.", "fever", set()),
    ("History of diabetes, presents with chest pain.", "chest pain", set()),
    ("History of asthma, reports of palpitations and syncope.", "syncope", {"is_historical"}),
    ("History of asthma. Reports fever today.", "fever", set()),
    ("Denies alcohol or other drug use.", "alcohol", {"is_negated", "is_historical"}),
    ("He has been admitted frequently for pancreatitis and ileus.", "ileus", {"is_historical"}),
    ("She was hospitalized multiple times for asthma flares.", "asthma flares", {"is_historical"}),
    ("Several prior hospitalizations for heart failure.", "heart failure", {"is_historical"}),
    ("An earlier liver biopsy showed steatosis.", "steatosis", {"is_historical"}),
    ("The outside CT report indicated a small renal cyst.", "small renal cyst", {"is_historical"}),
    ("She was admitted for pneumonia.", "pneumonia", set()),  # one admission: the current one
    ("Compared with the prior study, the effusion is larger.", "effusion", set()),
    ("The nodule is new since the previous exam.", "nodule", set()),
    ("She had a previous stroke.", "stroke", {"is_historical"}),
    # ---- hypothetical and conditional
    ("Return if you develop chest pain.", "chest pain", {"is_hypothetical", "is_conditional"}),
    ("Call the clinic if fever recurs.", "fever", {"is_hypothetical", "is_conditional"}),
    ("Should he develop dyspnea, call 911.", "dyspnea", {"is_hypothetical", "is_conditional"}),
    (
        "Return for worsening abdominal pain.",
        "abdominal pain",
        {"is_hypothetical", "is_conditional"},
    ),
    ("Take aspirin in case of headache.", "headache", {"is_hypothetical", "is_conditional"}),
    ("Tylenol as needed for pain.", "pain", {"is_hypothetical", "is_conditional"}),
    ("We discussed the risk of bleeding.", "bleeding", {"is_hypothetical"}),
    ("Heparin to prevent thrombosis.", "thrombosis", {"is_hypothetical"}),
    ("Cardiac risk factors include diabetes.", "diabetes", set()),  # existing, not hypothetical
    ("Screening for hepatitis C was offered.", "hepatitis C", {"is_hypothetical"}),
    ("Chlamydia screening done today.", "Chlamydia", {"is_hypothetical"}),
    ("Given the tetanus and diphtheria toxoid.", "diphtheria", {"is_hypothetical"}),
    ("Influenza vaccine administered.", "Influenza", {"is_hypothetical"}),
    ("Influenza confirmed by PCR; vaccine declined last fall.", "Influenza", set()),
    ("The dose should be titrated up to lisinopril 20 mg.", "lisinopril", set()),
    # ---- uncertainty (medspaCy default rules)
    ("Findings suspicious for pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Possible early appendicitis.", "early appendicitis", {"is_uncertain"}),
    ("Pneumonia cannot be excluded.", "Pneumonia", {"is_uncertain"}),
    ("Cannot exclude pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Questionable PE with IVC filter.", "PE", {"is_uncertain"}),
    # ---- experiencer
    ("Her mother had breast cancer.", "breast cancer", {"is_family"}),
    ("Father with coronary artery disease.", "coronary artery disease", {"is_family"}),
    ("A sibling has type 1 diabetes.", "type 1 diabetes", {"is_family"}),
    ("Family history of colon cancer.", "colon cancer", {"is_family"}),
    ("Colon cancer in her father.", "Colon cancer", {"is_family"}),
    ("No family history of colon cancer.", "colon cancer", {"is_negated", "is_family"}),
    ("The patient was agitated in a child state.", "agitated", set()),
    # a clause about the patient ends the relative's scope
    ("His mother called EMS when the patient had chest pain.", "chest pain", set()),
    ("Mother of the patient has diabetes.", "diabetes", {"is_family"}),
    ("Mother has diabetes and the patient has asthma.", "asthma", set()),
    # "w/o" is "without"
    ("Head trauma w/o headache.", "headache", {"is_negated"}),
    # a habit is a standing fact of the history; a diagnosis named by it is a current problem
    ("Denies alcohol use.", "alcohol use", {"is_negated", "is_historical"}),
    ("Patient with alcohol use disorder and cirrhosis.", "alcohol use disorder", set()),
    ("Admitted for alcohol withdrawal.", "alcohol withdrawal", set()),
    # a parent who tells a child's history is its informant, "the child" is the patient
    ("A 4-year-old boy. The child has had fevers to 102.", "fevers", set()),
    ("This 3-month-old infant. This infant has had vomiting.", "vomiting", set()),
    # ... only in a note about a child (the first age it states)
    ("The child has had fevers to 102.", "fevers", {"is_family"}),
    ("A 35-year-old woman whose son has autism; the child has asthma.", "asthma", {"is_family"}),
    ("Father reported to have had a stroke at 50.", "stroke", {"is_family"}),
    ("Mother said to have breast cancer.", "breast cancer", {"is_family"}),
    ("Mother gave birth to a baby with Down syndrome.", "Down syndrome", {"is_family"}),
    ("A 12-year-old girl. Mother gave her MiraLax for constipation.", "constipation", set()),
    ("Mom denies rash, vomiting or diarrhea.", "diarrhea", {"is_negated"}),
    ("Mother reports that he has had a cough for 3 days.", "cough", set()),
    ("Per mom, no fever.", "fever", {"is_negated"}),
    ("As reported by the parents, he had wheezing.", "wheezing", set()),
    # ... and a relative's own history keeps its cue
    ("Her child has asthma.", "asthma", {"is_family"}),
    ("Mother denies any family history of asthma.", "asthma", {"is_negated", "is_family"}),
    ("Mother had a stroke at 60.", "stroke", {"is_family"}),
    ("Diabetes in the mother.", "Diabetes", {"is_family"}),
    # ... without taking the place of a cue that ends in the conjunction
    (
        "Instructed to return when the patient develops fever.",
        "fever",
        {"is_hypothetical", "is_conditional"},
    ),
    # a terminator is not swallowed by a longer cue over it ("but the patient")
    (
        "No bruising or bleeding, but the patient has had previous episodes of hematuria.",
        "hematuria",
        {"is_historical"},
    ),
    # a history that could not be taken: its reason is affirmed
    ("Review of systems not obtainable as the patient is confused.", "confused", set()),
    # prophylaxis: the condition prevented, never the drug given for it
    ("She received antibiotic prophylaxis with cefazolin.", "cefazolin", set()),
    ("He was given 1 g of Ancef IV for antibiotic prophylaxis.", "Ancef", set()),
    ("Given Arixtra for prophylaxis against thrombus.", "thrombus", {"is_hypothetical"}),
    ("We discussed the low risk for cardiac toxicity.", "cardiac toxicity", {"is_hypothetical"}),
    # ---- session 5: cues of every public lexicon, scope that generalises
    # a cue that opens the mention's own span (another NER's or a gold standard's convention)
    (
        "There had been no extra-intestinal manifestations.",
        "no extra-intestinal manifestations",
        {"is_negated"},
    ),
    ("Echo showed no signs of endocarditis.", "no signs of endocarditis", {"is_negated"}),
    ("Possible pneumonia on the left.", "Possible pneumonia", {"is_uncertain"}),
    # a cue whose pattern swallowed the finding word still negates it
    ("The liver was not palpable.", "palpable", {"is_negated"}),
    # "ruled out" before and after the finding
    ("Biopsy had ruled out myocarditis.", "myocarditis", {"is_negated"}),
    ("Dengue and Mycoplasma infections were excluded.", "infections", {"is_negated"}),
    (
        "The coagulation profile was normal, which excluded coagulopathy.",
        "coagulopathy",
        {"is_negated"},
    ),
    # findings named by the words that pseudo-triggers used to swallow
    ("He received radiation without complication.", "complication", {"is_negated"}),
    ("She went to bed without complications.", "complications", {"is_negated"}),
    ("She no longer reports neck pain.", "neck pain", {"is_negated"}),
    ("The effusion is no longer seen.", "effusion", {"is_negated"}),
    # every verb of finding under "not", "failed to"
    ("CT did not show any haemorrhage.", "haemorrhage", {"is_negated"}),
    ("The scan failed to reveal any brain swelling.", "brain swelling", {"is_negated"}),
    # resolution: absent now (NegEx convention), kept as resolved for FHIR
    ("Her rash resolved within one week.", "rash", {"is_negated"}),
    ("Nausea and vomiting disappeared after treatment.", "vomiting", {"is_negated"}),
    ("Chest CT showed complete resolution of the effusion.", "effusion", {"is_negated"}),
    # ... but a resolution still to come is none
    ("Reimplant the pacemaker once the infection is completely resolved.", "infection", set()),
    # a new predicate or a purpose clause ends the scope
    (
        "Echo was negative for vegetations and showed mitral regurgitation.",
        "mitral regurgitation",
        set(),
    ),
    ("The child did not carry the mutation and had low birth weight.", "low birth weight", set()),
    ("The nodes were not dissected to reduce bleeding.", "bleeding", set()),
    ("No change in the size of the nodule.", "nodule", set()),
    # uncertainty: NegBio's and pyConText's hedges
    (
        "Heart block presumed to be due to varicella infection.",
        "varicella infection",
        {"is_uncertain"},
    ),
    ("The mass was thought to be a fibroid.", "fibroid", {"is_uncertain"}),
    ("Under the impression of myocarditis, he was treated.", "myocarditis", {"is_uncertain"}),
    ("Imaging suggests primary hyperparathyroidism.", "hyperparathyroidism", {"is_uncertain"}),
    ("Findings may represent infection.", "infection", {"is_uncertain"}),
    ("The differential diagnosis included lupus and sarcoidosis.", "sarcoidosis", {"is_uncertain"}),
    ("Findings raising concern for osteomyelitis.", "osteomyelitis", {"is_uncertain"}),
    ("Pneumonia versus atelectasis.", "Pneumonia", {"is_uncertain"}),
    ("Pneumonia versus atelectasis.", "atelectasis", {"is_uncertain"}),
    ("Infection is suspected.", "Infection", {"is_uncertain"}),
    (
        "PET was performed to evaluate for metastatic lesions.",
        "metastatic lesions",
        {"is_uncertain"},
    ),
    # a test's purpose, not its result
    ("CT is more sensitive in detecting small nodules.", "nodules", {"is_uncertain"}),
    # ... and what only looks like one
    ("She presents for evaluation of a desquamating rash.", "rash", set()),
    ("A small nodule was detected.", "nodule", set()),
    ("Imaging led to the detection of a renal mass.", "renal mass", set()),
    ("Considering the decompensated cirrhosis, we deferred surgery.", "cirrhosis", set()),
    ("There were no apparent lesions.", "lesions", {"is_negated"}),
    (
        "There is a low suspicion for coronary artery disease.",
        "coronary artery disease",
        {"is_negated"},
    ),
    # ---- "is not (entirely) excluded" states a possibility; "rule-out" is one token
    ("A small pulmonary nodule is not entirely excluded.", "pulmonary nodule", {"is_uncertain"}),
    ("Pleural effusion is not excluded on this view.", "Pleural effusion", {"is_uncertain"}),
    ("CT is advised to rule-out pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Pneumonia is excluded.", "Pneumonia", {"is_negated"}),
    # ---- radiology: a density reinterpreted as a structure outside the lung or an artifact
    (
        "Nodular density over the left 4th rib represents a healing rib fracture.",
        "Nodular density",
        {"is_negated"},
    ),
    (
        "Nodular density over the left 4th rib represents a healing rib fracture.",
        "rib fracture",
        set(),
    ),
    (
        "Nodular opacity in the left base likely represents the patient's nipple.",
        "Nodular opacity",
        {"is_negated"},
    ),
    (
        "Nodular density at the right base secondary to soft tissue overlay.",
        "Nodular density",
        {"is_negated"},
    ),
    ("Nodular opacity may represent overlying telemetry leads.", "Nodular opacity", {"is_negated"}),
    # ... a negation between them does not cut the reinterpretation's scope
    (
        "Nodular density at the left base with no lateral correlate, due to soft tissue overlay.",
        "Nodular density",
        {"is_negated"},
    ),
    (
        "Bilateral nodular opacities at the lung bases, likely nipple shadows.",
        "nodular opacities",
        {"is_negated"},
    ),
    ("The nodular density corresponds to the nipple.", "nodular density", {"is_negated"}),
    # ... a granuloma is a (benign) nodule; a disease cause is no reinterpretation
    ("Right lower lobe nodule, likely granuloma.", "nodule", set()),
    ("The lump is probably an old fracture with callus.", "fracture", {"is_uncertain"}),
    ("Left pneumothorax, likely due to the chest tube.", "pneumothorax", set()),
    ("Calcified nodule compatible with granuloma.", "nodule", set()),
    # ... a reinterpretation explains the density, no other finding of the sentence
    (
        "Right lower lobe consolidation and left pleural effusion, with a nodular opacity "
        "likely representing nipple shadow.",
        "pleural effusion",
        set(),
    ),
    (
        "Moderate cardiomegaly with pulmonary edema, related to overlap of soft tissues.",
        "pulmonary edema",
        set(),
    ),
    # ---- a cue stated of one noun phrase reaches no further than its clause
    (
        "Cirrhosis with ascites, hepatocellular carcinoma is not likely.",
        "ascites",
        set(),
    ),
    (
        "Cirrhosis with ascites, hepatocellular carcinoma is not likely.",
        "hepatocellular carcinoma",
        {"is_negated"},
    ),
    ("She has pneumonia and sepsis is not likely.", "pneumonia", set()),
    (
        "Given her atrial fibrillation, anticoagulation should be considered.",
        "atrial fibrillation",
        set(),
    ),
    ("Lung cancer, metastasis is a concern.", "metastasis", {"is_uncertain"}),
    ("Lung cancer, metastasis is a concern.", "Lung cancer", set()),
    ("Chest pain is the primary concern.", "Chest pain", set()),
    (
        "Right lower lobe consolidation, favoring pneumonia, with small effusion.",
        "effusion",
        set(),
    ),
    ("Pneumonia and pleural effusion, septic emboli suspected.", "pleural effusion", set()),
    # ---- 'previously demonstrated' names an earlier finding; it states no history itself
    ("Persistent previously demonstrated left pleural effusion.", "pleural effusion", set()),
    ("Right pneumothorax secondary to rib fractures.", "pneumothorax", set()),
    ("Right lower lobe nodule and calcified granulomas.", "nodule", set()),
    # ---- radiology hedges
    (
        "In the appropriate clinical setting, this is compatible with pneumonia.",
        "pneumonia",
        {"is_uncertain"},
    ),
    ("Mild opacities bilaterally, favoring scar or atelectasis.", "atelectasis", {"is_uncertain"}),
    ("Findings favours a lymphoid neoplasm.", "lymphoid neoplasm", {"is_uncertain"}),
    (
        "Unclear whether this is secondary to cardiomegaly or pericardial effusion.",
        "pericardial effusion",
        {"is_uncertain"},
    ),
    ("Small bilateral pleural effusions suspected.", "pleural effusions", {"is_uncertain"}),
    ("The patient was treated for suspected pneumonia.", "pneumonia", {"is_uncertain"}),
    # ---- an earlier finding named by a participle; "not well seen"
    (
        "There has been resolution of previously demonstrated bibasilar infiltrates.",
        "infiltrates",
        {"is_negated"},
    ),
    ("The effusion is not definitely seen on this study.", "effusion", {"is_negated"}),
    # ... but visibility is not absence
    ("The fracture site was not clearly visualized due to callus.", "fracture", set()),
    ("The fracture line is obscured due to overlying callus.", "fracture", set()),
    ("She had recently noted recurrence of the nodule.", "nodule", set()),
    ("We will favor using a calcium channel blocker for now.", "calcium channel blocker", set()),
    ("Pneumonia not excluded.", "Pneumonia", {"is_uncertain"}),
    ("Pneumonia would be a consideration.", "Pneumonia", {"is_uncertain"}),
    ("Malignancy remains a concern.", "Malignancy", {"is_uncertain"}),
    ("Pneumonia should be considered.", "Pneumonia", {"is_uncertain"}),
    ("Possibility of pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Correlate clinically for pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Pneumonia is not likely.", "Pneumonia", {"is_negated"}),
    ("A man with pneumonia who is not likely to comply.", "pneumonia", set()),
    # ... not a rating, a plan, a risk-free comparison, nor a forward cue's own clause
    ("Her headache complaints would be considered occasional and slight.", "headache", set()),
    ("Recommend correlation with site of pain.", "pain", set()),
    (
        "There is a concern that the patient had a low-grade fever this morning.",
        "low-grade fever",
        {"is_uncertain"},
    ),
    ("There is a possibility of pulmonary embolism.", "pulmonary embolism", {"is_uncertain"}),
    # ---- a comparison with the prior study is no negation
    ("No change in the left pleural effusion.", "pleural effusion", set()),
    ("Not significantly changed small left effusion.", "effusion", set()),
    ("The right lower lobe nodule is not significantly changed.", "nodule", set()),
    ("No change in bowel habits.", "bowel habits", {"is_negated"}),
    ("Right pneumothorax is no longer visualized.", "pneumothorax", {"is_negated"}),
    # ---- visibility in doubt (CheXpert's uncertainty patterns): uncertain, not absent
    (
        "The previously visualized nodular density is not well-seen on today's study.",
        "nodular density",
        {"is_uncertain"},
    ),
    ("The nodule is not well visualized on this study.", "nodule", {"is_uncertain"}),
    ("Effusion is incompletely evaluated on this view.", "Effusion", {"is_uncertain"}),
    ("The left base is poorly evaluated; no pneumothorax.", "pneumothorax", {"is_negated"}),
    ("Pneumothorax is not seen.", "Pneumothorax", {"is_negated"}),
    ("Cannot entirely exclude underlying pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Cannot exclude pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Pneumothorax cannot be evaluated on this supine film.", "Pneumothorax", {"is_uncertain"}),
    ("Small left effusion, if any.", "effusion", {"is_uncertain"}),
    ("She will call if any fevers or pain.", "fevers", {"is_hypothetical", "is_conditional"}),
    ("Pneumonia less likely.", "Pneumonia", {"is_uncertain"}),
    ("Atelectasis, less likely pneumonia.", "Atelectasis", set()),
    ("Atelectasis, less likely pneumonia.", "pneumonia", {"is_uncertain"}),
    ("Lack of pain made this diagnosis less likely.", "pain", {"is_negated"}),
    ("Cannot be certain whether there is a small effusion.", "effusion", {"is_uncertain"}),
    ("It is not certain whether there is a Babinski sign.", "Babinski sign", {"is_uncertain"}),
    ("Left base opacity, ? atelectasis.", "atelectasis", {"is_uncertain"}),
    ("Lower extremity cramping (?claudication) after walking.", "claudication", {"is_uncertain"}),
    ("PMH: ?stroke and memory difficulty.", "stroke", {"is_historical", "is_uncertain"}),
    ("PMH: ?stroke and memory difficulty.", "memory difficulty", {"is_historical"}),
    ("Did he have a cough? Fever is present.", "Fever", set()),
    # a density read as a device or an object on the skin is not the lung finding
    (
        "Nodular opacity over the upper lungs may represent overlying telemetry wires.",
        "Nodular opacity",
        {"is_negated"},
    ),
    ("Two small opacities representing surgical clips.", "opacities", {"is_negated"}),
    ("Right upper lobe nodule, likely granuloma.", "nodule", set()),
    # a stated cause is a known condition in narrative: the causal link is hedged, not the cause
    ("Kidney disease likely secondary to HIV nephropathy.", "HIV nephropathy", set()),
]


@pytest.mark.parametrize(("text", "target", "expected"), ROWS, ids=[f"{r[0]}|{r[1]}" for r in ROWS])
def test_context_row(mention, text: str, target: str, expected: set[str]) -> None:
    span = mention(text, target)
    got = {f for f in FLAGS if getattr(span._, f)}
    assert got == expected


@pytest.mark.parametrize(
    ("text", "target", "label", "expected"),
    [
        # a diagnosis entertained is uncertain; a procedure considered is a plan
        ("Possibility of pneumonia.", "pneumonia", "PROBLEM", {"is_uncertain"}),
        ("She presents for consideration of gastric bypass.", "gastric bypass", "PROCEDURE", set()),
        ("Physical therapy should be considered.", "Physical therapy", "PROCEDURE", set()),
    ],
)
def test_hedges_of_a_diagnosis(mention, text: str, target: str, label: str, expected) -> None:
    span = mention(text, target, label=label)
    assert {f for f in FLAGS if getattr(span._, f)} == expected


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        # "Denies:" lead-in carries over the list items under it
        ("ROS:\nDenies:\n- fever\n- chills\n- night sweats\n", "night sweats", {"is_negated"}),
        # a cue inside a list item stays in its item
        ("Symptoms:\n- no fever\n- cough\n", "cough", set()),
        ("Symptoms:\n- no fever\n- cough\n", "fever", {"is_negated"}),
    ],
)
def test_list_scope(mention, text: str, target: str, expected: set[str]) -> None:
    span = mention(text, target)
    assert {f for f in FLAGS if getattr(span._, f)} == expected


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        ("FAMILY HISTORY:  Diabetes and hypertension.\n", "hypertension", {"is_family"}),
        ("FAMILY HISTORY:  Mother had a stroke.\n", "stroke", {"is_family"}),
        ("FAMILY HISTORY:  The patient has asthma.\n", "asthma", set()),  # about the patient
        ("PAST MEDICAL HISTORY:  Asthma.\n", "Asthma", {"is_historical"}),
        ("PSH:  Appendectomy.\n", "Appendectomy", {"is_historical"}),
        (
            "SOCIAL HISTORY:  Denies illicit substances.\n",
            "illicit substances",
            {"is_negated", "is_historical"},
        ),
        ("ALLERGIES:  Penicillin.\n", "Penicillin", {"is_historical"}),
        (
            "PLAN:  Return to the ED if chest pain recurs.\n",
            "chest pain",
            {"is_hypothetical", "is_conditional"},
        ),
        ("ASSESSMENT:  Pneumonia.\n", "Pneumonia", set()),
    ],
)
def test_section_defaults(mention, text: str, target: str, expected: set[str]) -> None:
    span = mention(text, target)
    assert {f for f in FLAGS if getattr(span._, f)} == expected


def test_experiencer_names_the_relative(mention) -> None:
    assert mention("Her mother had breast cancer.", "breast cancer")._.experiencer == "mother"
    fh = mention("FAMILY HISTORY:  Diabetes.\n", "Diabetes")
    assert fh._.experiencer == "family"
    assert mention("She has asthma.", "asthma")._.experiencer is None


def test_allergy_section_sets_allergy_context(mention) -> None:
    assert mention("ALLERGIES:  Penicillin.\n", "Penicillin")._.attributes == {"allergy": True}


def test_context_rules_have_unique_stable_ids_and_load_in_medspacy() -> None:
    from medspacy.context import ConTextRule

    path = resources.files("extractors") / "rules" / "context" / "context.json"
    data = json.loads(path.read_text(encoding="utf-8"))["context_rules"]
    ids = [r["metadata"]["rule_id"] for r in data]
    assert len(ids) == len(set(ids))
    assert all(i and i.count(".") >= 2 for i in ids)
    assert len(ConTextRule.from_json(str(path))) == len(data)


def test_no_mentions_no_work(bare_nlp) -> None:
    doc = bare_nlp("No fever. Denies chills.")
    assert doc._.context_graph.modifiers == []


def test_modifiers_are_linked(mention) -> None:
    span = mention("She denies chest pain.", "chest pain")
    assert [m.category for m in span._.modifiers] == ["NEGATED_EXISTENCE"]
    assert span._.modifiers[0].rule.metadata["rule_id"].startswith("negated_existence.")


def test_mentions_carry_assertion(bare_nlp) -> None:
    from extractors.nlp import extract
    from schemas.model import Note

    note = Note(note_id="n1", text="FAMILY HISTORY:  Mother had breast cancer.\n")
    start = note.text.index("breast cancer")
    given = [{"start": start, "end": start + 13, "label": "PROBLEM"}]
    [(_, mentions)] = list(extract(bare_nlp, [(note, given)]))
    [m] = mentions
    assert m.assertion.is_family and m.assertion.experiencer == "mother"
    assert m.section == "family_history"


def test_resolution_marks_the_mention_resolved(mention) -> None:
    span = mention("Her rash resolved within one week.", "rash")
    assert span._.is_negated and span._.attributes.get("resolved") is True
    plain = mention("No rash.", "rash")
    assert plain._.is_negated and "resolved" not in (plain._.attributes or {})


def test_no_name_mangled_private_attribute_of_medspacy_is_read() -> None:
    """ConText and the sectionizer build their own matchers over the public rules instead of
    reaching into medspaCy's private ones (which change without notice)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "extractors"
    private = re.compile(r"_(?:ConText|Sectionizer|MedspacyMatcher|TargetMatcher)__\w+")
    used = [
        f"{path.name}: {m.group(0)}"
        for path in root.rglob("*.py")
        for m in private.finditer(path.read_text(encoding="utf-8"))
    ]
    assert used == []


@pytest.mark.parametrize(
    ("text", "target", "negated"),
    [
        ("He was afebrile on arrival.", "afebrile", True),
        ("Abdomen soft, nontender.", "nontender", True),
        ("Sclerae anicteric.", "anicteric", True),
        # inside a negated list it stays absent
        ("Knee: No joint effusion, erythema, nontender.", "nontender", True),
        ("Extremities: without swelling, nontender, no erythema.", "nontender", True),
        ("General: in no acute distress, afebrile.", "afebrile", True),
        # the word itself negated: the finding is there
        ("He was not afebrile on day 2.", "afebrile", False),
        ("She is no longer afebrile.", "afebrile", False),
    ],
)
def test_a_word_naming_an_absence_is_its_finding_negated(
    nlp, text: str, target: str, negated: bool
) -> None:
    """"afebrile" is fever, negated: the coded finding with the note's own word as its text."""
    [span] = [s for s in nlp(text).spans["mentions"] if s.text == target]
    assert span._.rule_id.startswith("curated:absent-")
    assert span._.is_negated is negated


def test_a_cue_word_inside_a_test_name_modifies_no_other_result() -> None:
    from extractors.nlp import NlpSettings, build_nlp, extract
    from schemas.model import Note

    nlp = build_nlp(NlpSettings(extractors=("labs",)))
    text = "Potassium 4.1, sodium 140, international normalized ratio 1.3."
    [(_, mentions)] = list(extract(nlp, [(Note(note_id="t", text=text), ())]))
    assert not isinstance(mentions, Exception)
    labs = [m for m in mentions if m.label == "LAB"]
    assert len(labs) == 3
    # "normalized" (a resolution cue: "the rash normalized") is a word of the INR's name
    assert not any(m.assertion.is_negated or m.attributes.get("resolved") for m in labs)


@pytest.mark.parametrize("later", ["NEGATED_EXISTENCE", "HYPOTHETICAL"])
def test_of_two_rules_over_the_same_words_the_later_one_acts(tmp_path, later) -> None:
    # which cue wins a tie was once the matcher's emission order, which moved whenever a rule
    # was added anywhere in the file
    from extractors.nlp import NlpSettings, build_nlp, make_doc
    from schemas.model import Note

    earlier = "HYPOTHETICAL" if later == "NEGATED_EXISTENCE" else "NEGATED_EXISTENCE"
    rules = [
        {
            "literal": "zorp",
            "category": category,
            "direction": "FORWARD",
            "pattern": [{"LOWER": "zorp"}],
            "metadata": {"rule_id": f"test.{category.lower()}"},
        }
        for category in (earlier, later)
    ]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"context_rules": rules}), encoding="utf-8")
    nlp = build_nlp(NlpSettings(extractors=()))
    nlp.replace_pipe("ns_context", "ns_context", config={"rules": str(path)})
    text = "Zorp pneumonia."
    given = [{"start": 5, "end": 14, "label": "PROBLEM"}]
    doc = nlp(make_doc(nlp, Note(note_id="t", text=text), given))
    [span] = [s for s in doc.spans["mentions"] if s._.extractor == "input"]
    assert [m.category for m in span._.modifiers] == [later]


@pytest.mark.parametrize(
    ("text", "target", "hypothetical"),
    [
        # a procedure the plan says will be done, or is scheduled, is not done yet
        ("Plan: EGD tomorrow.", "EGD", True),
        ("Will obtain MRI of the lumbar spine.", "MRI", True),
        ("She will undergo cholecystectomy next week.", "cholecystectomy", True),
        ("He is scheduled for elective CABG.", "CABG", True),
        ("I would recommend colonoscopy.", "colonoscopy", True),
        ("Colonoscopy is scheduled for May.", "Colonoscopy", True),
        # ... one done, or whose results are awaited, is
        ("He underwent colonoscopy which showed polyps.", "colonoscopy", False),
        ("An MRI was obtained and showed a herniation.", "MRI", False),
        ("Await biopsy results.", "biopsy", False),
    ],
)
def test_planned_procedures_are_hypothetical(
    mention, text: str, target: str, hypothetical: bool
) -> None:
    assert mention(text, target, label="PROCEDURE")._.is_hypothetical is hypothetical


def test_planned_cues_leave_findings_and_drugs_alone(mention) -> None:
    # the procedure cues are for procedures: a finding after them keeps its own context
    assert not mention("Will obtain CT for the cough.", "cough")._.is_hypothetical
    drug = mention("Will obtain metformin refills.", "metformin", label="MEDICATION")
    assert not drug._.is_hypothetical
    # ... and a cue over the same words as an older one does not take its place
    assert mention("Most children will have an ear infection.", "ear infection")._.is_hypothetical


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        # review of the radiology hedges: a patient who cannot be assessed is no hedge on the
        # problem before, a consequence is no doubt, an answered question queries nothing
        ("The patient has dementia and cannot be assessed for pain.", "dementia", set()),
        ("Due to his aphasia, orientation cannot be evaluated.", "aphasia", set()),
        ("Pleural effusion cannot be assessed.", "Pleural effusion", {"is_uncertain"}),
        ("His CKD makes him less likely to tolerate contrast.", "CKD", set()),
        ("Pneumonia is less likely.", "Pneumonia", {"is_uncertain"}),
        ("Fever? yes - fever to 102 with chills.", "chills", set()),
        ("Left base opacity, ? atelectasis.", "atelectasis", {"is_uncertain"}),
    ],
)
def test_report_hedges_stay_in_their_phrase(mention, text: str, target: str, expected) -> None:
    span = mention(text, target)
    assert {f for f in FLAGS if getattr(span._, f)} == expected
