"""The FHIR R4 adapter: FHIR Tasks in as our inbound events, our outbound events back as
FHIR ``Communication`` and ``Observation`` resources (docs/fhir.md).

Models come from ``fhir.resources.R4B`` (R4B is wire-compatible with R4 for every
resource used here; the package's top level is R5)."""
