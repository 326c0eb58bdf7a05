"""Open data: the datasets the city publishes without a key (:mod:`services.opendata.datasets`), their DCAT-AP 3
catalogue (:mod:`services.opendata.catalogue`, served at ``/v1/catalogue``) and the URLs of their exports
(:mod:`services.opendata.urls`). docs/OPEN_DATA.md describes them."""
