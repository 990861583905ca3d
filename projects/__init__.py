"""Plugin projects: each folder adds components to sgseg through ``custom_imports``."""
