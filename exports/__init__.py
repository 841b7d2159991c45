"""XLSX exports: pure functions from a database session and parameters to bytes. No Telegram."""
