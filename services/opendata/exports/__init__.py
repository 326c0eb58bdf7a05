"""Open-data exports: ``/v1/open/{dataset}.csv``, ``.geojson`` and ``.senml``, streamed a chunk of rows at a time
(:mod:`.routes`); the checked request (:mod:`.request`), what a row holds (:mod:`.columns`), reading raw points and
roll-ups (:mod:`.reader`), the privacy engine's releases of person-related data (:mod:`.releases`), the formats
(:mod:`.formats`) and licence and provenance (:mod:`.provenance`). docs/OPEN_DATA.md, "Exports"."""
