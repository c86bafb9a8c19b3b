"""Continuity (G7): objects taken before a reload behave as the newest code.

Offers the pipeline a transaction runs (``capture`` a generation's
definitions, ``adopt`` generation 1 at its first reload, ``plan`` what a
publish must change, ``forget`` an unloaded module, ``class_identity``), the
holder search's scope (``ReferrerScope``) and the transplant's switch and code
copies. Modules, bottom to top: ``forwarders``, ``transplant``, ``operations``
(the plan), ``holders`` (the dispatch tables), ``classes``, ``lineages``,
``referrers``, ``references``, ``functions``, ``capture``, ``decisions``,
``pipeline``.

May import: ``_errors``, ``_report``, ``_core``. Never ``_reload`` or above:
the publisher (``_core.publish``) takes continuity's plan through the
``PublishPlan`` protocol, and the state settles lineages through ``Settler``.
"""

from .capture import capture as capture
from .pipeline import adopt as adopt
from .pipeline import class_identity as class_identity
from .pipeline import forget as forget
from .pipeline import plan as plan
from .referrers import ReferrerScope as ReferrerScope
from .transplant import TRANSPLANT as TRANSPLANT
from .transplant import fresh_code_objects as fresh_code_objects

__all__ = ["capture", "adopt", "class_identity", "forget", "plan", "ReferrerScope", "TRANSPLANT", "fresh_code_objects"]
