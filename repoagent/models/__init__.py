"""Model access: litellm calls fitted to the context window and a run's budget, and the scripted double."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: never fetch prices
