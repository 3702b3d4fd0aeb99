"""Reading tables: CSV, Parquet files and datasets, and the built-in examples."""
