import sys
from pathlib import Path

import torch as th

sys.path.insert(0, str(Path(__file__).parent))
th.set_num_threads(1)
