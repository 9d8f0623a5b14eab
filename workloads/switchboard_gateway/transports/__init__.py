"""How bytes get in and out: one folder per wire protocol."""
