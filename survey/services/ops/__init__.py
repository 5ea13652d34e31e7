"""Operations: the whole database as one archive (backup and restore), and data retention (PIPL)."""
