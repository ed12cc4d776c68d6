"""Teaching helpers, split into :mod:`~inn_core.views.toy` (the 2-D consistency toy), :mod:`~inn_core.views.demo`
(the digits demo run) and :mod:`~inn_core.views.score_split` (a run's Beta-mixture split).

This module keeps the names importable from where they were, for code written before the split.
"""

from inn_core.views.demo import DEMO_DIR, DEMO_FILES, DEMO_NAME, DemoRun, load_demo, write_demo_assets
from inn_core.views.score_split import IMBALANCED_GROUPS, ScoreSplit, score_split
from inn_core.views.toy import TOY_OBJECTIVES, ToyConfig, ToyPoint, ToyResult, consistency_toy

__all__ = [
    "DEMO_DIR",
    "DEMO_FILES",
    "DEMO_NAME",
    "DemoRun",
    "IMBALANCED_GROUPS",
    "ScoreSplit",
    "TOY_OBJECTIVES",
    "ToyConfig",
    "ToyPoint",
    "ToyResult",
    "consistency_toy",
    "load_demo",
    "score_split",
    "write_demo_assets",
]
