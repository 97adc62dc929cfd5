"""Service points and policies: models, import, queries, export; the data in catalog/data."""
