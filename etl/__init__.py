"""ETL of the Osservatorio Manifattura Digitale: raw open data -> DuckDB warehouse."""

__version__ = "0.1.0"
