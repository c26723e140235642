"""The open-data feeds: one module per source, each a ``records.Source``.

* ``territories``: API Découpage administratif (geo.api.gouv.fr) → ``TerritoryUpserted``;
  ``territory_from`` builds the ``records.Territory`` of a tenant from them.
* ``service_public``: Annuaire de l'administration (DILA), API pages or the national export.
* ``datagouv``: data.gouv.fr datasets (udata API v1).
* ``datatourisme``: DATAtourisme flux (places and events).
"""

from __future__ import annotations

from citela_ingest.sources.datagouv import DatagouvSource
from citela_ingest.sources.datatourisme import DatatourismeSource
from citela_ingest.sources.service_public import ServicePublicSource
from citela_ingest.sources.territories import TerritoriesSource, former_codes, territory_from

__all__ = [
    "DatagouvSource",
    "DatatourismeSource",
    "ServicePublicSource",
    "TerritoriesSource",
    "former_codes",
    "territory_from",
]
