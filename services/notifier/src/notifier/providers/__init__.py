"""Message providers: one module per provider, all behind ``base.Provider``."""
