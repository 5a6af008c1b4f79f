"""An atlas of a network: every unit of chosen layers on a static, searchable site."""
