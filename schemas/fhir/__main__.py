"""``python -m schemas.fhir``: print the policy table for docs/fhir.md."""

import sys

from schemas.fhir.policy import policy_markdown

sys.stdout.write(policy_markdown())
