"""Domain logic: plain functions taking a database session, knowing nothing of HTTP."""
