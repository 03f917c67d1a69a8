"""`aftersales`: the engine's admin command line for operators and support (README, "Admin CLI")."""
