# pytest: the kind modules import their neighbours as top-level modules, as
# the plugin imports them.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
